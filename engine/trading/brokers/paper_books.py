"""The paper broker's arithmetic, kept pure so it can be tested without a database.

Positions are signed (negative = short). Realized P&L is booked on the part of a fill that
reduces a position; a fill that crosses zero closes the old side and opens the new one at
the fill price. Commissions are tracked apart from realized P&L, as a real statement does.
The average entry is kept unrounded (the paper_positions column stores it exactly): rounding
it to a price tick misstates every later P&L by qty x the rounding.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from engine.market.types import Bar
from engine.trading.brokers.base import OrderSide, OrderType
from engine.trading.marks import to_decimal

PRICE_Q = Decimal("0.0001")
MONEY_Q = Decimal("0.00000001")
ZERO = Decimal(0)


def money(value: Decimal) -> Decimal:
    return value.quantize(MONEY_Q, rounding=ROUND_HALF_UP)


def price(value: Decimal) -> Decimal:
    return value.quantize(PRICE_Q, rounding=ROUND_HALF_UP)


def exact_price(value: Decimal) -> Decimal:
    """`value` with every digit kept, shown at least to the price's 4 dp (a whole quotient such as
    Decimal(2000) / Decimal(200) would otherwise print as 1E+1)."""
    rounded = price(value)
    return rounded if rounded == value else value


dec = to_decimal  # bar prices (floats) become money through their shortest repr


def signed(side: OrderSide | str, qty: Decimal) -> Decimal:
    return qty if OrderSide(side) is OrderSide.BUY else -qty


@dataclass(frozen=True, slots=True)
class PositionChange:
    qty: Decimal
    avg_entry_price: Decimal
    realized_pnl: Decimal  # booked by this fill alone


def apply_fill(pos_qty: Decimal, avg: Decimal, fill_signed_qty: Decimal, fill_price: Decimal) -> PositionChange:
    """New position, average entry and realized P&L after one fill."""
    new_qty = pos_qty + fill_signed_qty
    if pos_qty == 0 or (pos_qty > 0) == (fill_signed_qty > 0):
        total = abs(pos_qty) * avg + abs(fill_signed_qty) * fill_price
        return PositionChange(new_qty, exact_price(total / abs(new_qty)) if new_qty else ZERO, ZERO)
    closed = min(abs(fill_signed_qty), abs(pos_qty))
    direction = Decimal(1) if pos_qty > 0 else Decimal(-1)
    realized = money(closed * (fill_price - avg) * direction)
    if new_qty == 0:
        return PositionChange(ZERO, ZERO, realized)
    if (new_qty > 0) != (pos_qty > 0):  # flipped: the remainder opens at the fill price
        return PositionChange(new_qty, fill_price, realized)
    return PositionChange(new_qty, avg, realized)


def resting_reserve(pos: Decimal, legs: Sequence[tuple[Decimal, Decimal]]) -> Decimal:
    """Buying power a symbol's resting orders hold: the worst exposure any subset of them can add to `pos`.

    `legs`: (signed remaining qty, reference price). Each side is projected alone (a resting buy must not
    count on a resting sell filling, nor the reverse), its added shares priced at that side's dearest legs,
    and the worse side is reserved; filling both sides only nets them out."""
    worst = ZERO
    for buys in (True, False):
        side = sorted(((abs(q), ref) for q, ref in legs if q != 0 and (q > 0) == buys), key=lambda leg: -leg[1])
        total = sum((q for q, _ in side), ZERO)
        added = max(ZERO, abs(pos + (total if buys else -total)) - abs(pos))
        dollars = ZERO
        for qty, ref in side:
            take = min(qty, added)
            dollars, added = dollars + take * ref, added - take
        worst = max(worst, dollars)
    return worst


def fill_price_for(side: OrderSide, order_type: OrderType, limit: Decimal | None, bar: Bar,
                   slippage_bps: Decimal) -> Decimal | None:
    """Where an order trades in this bar, or None when a limit is not reached.

    Market: the open, moved against the trader by the slippage. Limit: only when the bar
    trades through the limit, at the limit or at the open when the open is already better.
    """
    open_ = dec(bar.open)
    if order_type is OrderType.MARKET:
        factor = slippage_bps / Decimal(10_000)
        return price(open_ * (1 + factor) if side is OrderSide.BUY else open_ * (1 - factor))
    assert limit is not None
    if side is OrderSide.BUY:
        return price(min(limit, open_)) if dec(bar.low) <= limit else None
    return price(max(limit, open_)) if dec(bar.high) >= limit else None


def volume_cap(bar: Bar, participation: Decimal) -> Decimal:
    """The most one bar lets us trade: participation x volume, in whole shares."""
    return (dec(bar.volume) * participation).quantize(Decimal(1), rounding=ROUND_DOWN)
