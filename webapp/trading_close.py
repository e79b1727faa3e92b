"""The Trading page's **Close position** action: one market order to flat for one position, through the
order gateway (engine.planner.api.close_position, origin "manual": the manual ticket's role and risk checks),
so a close obeys the trading state like any manual order (REDUCING allows it: it only reduces; HALTED refuses
it). The web side adds the dialog's guard: the position must still be the one the trader confirmed."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select

from engine.planner.api import close_position as close_position_order
from engine.store.models import PositionRow
from engine.trading.brokers.base import OrderSide
from engine.trading.risk_limits import active_limits
from webapp import trading_queries
from webapp.context import get_context
from webapp.control_actions import web_actor
from webapp.manual_orders import SYMBOL_PATTERN


@dataclass(frozen=True)
class CloseTarget:
    """The position the dialog asked about: its symbol and the quantity the trader saw."""

    symbol: str
    qty: Decimal

    @property
    def side(self) -> OrderSide:
        return OrderSide.SELL if self.qty > 0 else OrderSide.BUY

    def describe(self) -> str:
        return f"{self.side.value} {abs(self.qty).normalize():,f} {self.symbol} at market"


def position_qty(symbol: str) -> Decimal:
    """The stored position of `symbol` (0 when there is none)."""
    with get_context().store.read() as session:
        qty = session.scalars(select(PositionRow.qty).where(PositionRow.symbol == symbol)).first()
    return Decimal(qty) if qty is not None else Decimal(0)


def close_target(symbol: object) -> CloseTarget | None:
    """The target for a Close button's symbol, or None when it is malformed or there is no position."""
    if not isinstance(symbol, str) or not SYMBOL_PATTERN.match(symbol):
        return None
    qty = position_qty(symbol)
    return CloseTarget(symbol, qty) if qty != 0 else None


MAX_QTY_EXPONENT = 30  # far beyond any position; a larger exponent is a forged value (1e999999999)


def dialog_qty(value: object) -> Decimal:
    """The quantity the dialog showed, as a finite Decimal of sane size; ArithmeticError for anything else
    (a bool, a list, NaN, sNaN, Infinity, an exponent past MAX_QTY_EXPONENT, text longer than 40)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal) or len(str(value)) > 40:
        raise ArithmeticError(value)
    qty = Decimal(str(value).strip())  # InvalidOperation (an ArithmeticError) when it is no number
    if not qty.is_finite() or not -MAX_QTY_EXPONENT <= qty.adjusted() <= MAX_QTY_EXPONENT:
        raise ArithmeticError(value)
    return qty


def close_position(symbol: object, seen_qty: object, nonce: object) -> tuple[bool, str]:
    """(accepted, message). Sends only if the position is still the one the dialog showed: a position that
    changed meanwhile is reported, not closed with a stale quantity. The nonce makes a double click one order."""
    if not isinstance(nonce, str) or not 1 <= len(nonce) <= 64:
        return False, "Not sent: the form is out of date; reload the page."
    target = close_target(symbol)
    if target is None:
        return False, f"Not sent: there is no open position in {str(symbol)[:20]!r} to close."
    try:  # everything that reads the quantity is inside: "sNaN" and "1e999999999" raise when compared/shown
        seen = dialog_qty(seen_qty)
        if seen != target.qty:
            return False, (f"Not sent: the {target.symbol} position changed since the dialog opened "
                           f"(was {seen.normalize():,f}, now {target.qty.normalize():,f}); press Close again.")
    except ArithmeticError:
        return False, "Not sent: the dialog's quantity is malformed; press Close again."
    ctx = get_context()
    # the order itself: the planner's close_position (engine/planner/execute.py), one implementation for every caller
    outcome = close_position_order(ctx, target.symbol, web_actor(), key=f"close-{nonce}", origin="manual",
                                   limits=active_limits(ctx.store))
    trading_queries.forget()
    what = target.describe()
    if outcome.status in ("rejected", "not_sent"):
        return False, f"Rejected: {what}: {outcome.message}"
    return True, f"Sent: {what} to close the position, status {outcome.status}: {outcome.message}."
