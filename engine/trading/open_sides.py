"""Our open orders per symbol, buys and sells apart, and the worst case they allow.

Why: a resting order may never fill (a take-profit far from the price), so netting a resting sell against a new
buy would let the buy past every exposure limit while the position is really the long plus the buy. Limits are
judged on the worst case instead: resting orders that would add to |position| count as filled, those that would
reduce it do not. Over any subset of the resting orders filling (partially or not), the position stays between
position - sells and position + buys, so the largest |position| is at one of those two ends.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.store.models import OrderRow
from engine.trading.brokers.base import OrderSide
from engine.trading.orders import CONTINGENT_TYPES, OPEN_STATUSES

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class OpenSides:
    """The unfilled rest of a symbol's working buys and sells (both >= 0)."""

    buys: Decimal = ZERO
    sells: Decimal = ZERO

    @property
    def net(self) -> Decimal:
        return self.buys - self.sells


NONE_OPEN = OpenSides()


def worst_qty(position: Decimal, sides: OpenSides, delta: Decimal = ZERO) -> Decimal:
    """The signed position (plus `delta`, a new order assumed filled) with the largest size any fill of the
    resting orders can reach: all buys filled and no sell, or all sells and no buy."""
    high, low = position + sides.buys + delta, position - sides.sells + delta
    return high if abs(high) >= abs(low) else low


def open_order_sides(session: Session) -> dict[str, OpenSides]:
    """Per symbol, the unfilled rest of our open buys and sells.

    Resting stop / trailing-stop orders (broker-side protective exits) are contingent, not working: left out,
    as in engine/trading/orders.py open_order_deltas."""
    query = select(OrderRow.symbol, OrderRow.side, OrderRow.qty, OrderRow.filled_qty).where(
        OrderRow.status.in_(OPEN_STATUSES), OrderRow.order_type.not_in(CONTINGENT_TYPES))
    buys: dict[str, Decimal] = defaultdict(Decimal)
    sells: dict[str, Decimal] = defaultdict(Decimal)
    for sym, side, qty, filled in session.execute(query):
        rest = max(qty - filled, ZERO)
        if side == OrderSide.BUY.value:
            buys[sym] += rest
        else:
            sells[sym] += rest
    return {sym: OpenSides(buys.get(sym, ZERO), sells.get(sym, ZERO)) for sym in set(buys) | set(sells)}
