"""The Trading page's **Close position** action: one market order for what the position's open orders leave
(the dialog and the result name that quantity and the open orders, which stay working), through the
order gateway (engine.planner.api.close_position, origin "manual": the manual ticket's role and risk checks),
so a close obeys the trading state like any manual order (REDUCING allows it: it only reduces; HALTED refuses
it). The web side adds the dialog's guard: the position must still be the one the trader confirmed."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from engine.planner.api import close_position as close_position_order
from engine.planner.execute import ClosePreview, close_preview
from engine.trading.brokers.base import OrderSide
from engine.trading.risk_limits import active_limits
from webapp import trading_queries
from webapp.context import get_context
from webapp.control_actions import web_actor
from webapp.manual_orders import SYMBOL_PATTERN


@dataclass(frozen=True)
class CloseTarget:
    """The position the dialog asked about: its symbol, the quantity the trader saw, and what a close sends
    (the market order is for what the open orders leave: the dialog says so and names them)."""

    symbol: str
    qty: Decimal
    preview: ClosePreview

    @property
    def side(self) -> OrderSide:
        return OrderSide(self.preview.side)

    def describe(self) -> str:
        return self.preview.describe()

    def dialog_text(self) -> str:
        """Exactly what Confirm does: the market order's quantity, and the open orders that cover the rest."""
        held = f"{abs(self.qty).normalize():,f} {self.symbol} ({'long' if self.qty > 0 else 'short'})"
        if not self.preview.sends:
            return (f"Nothing would be sent: the open orders in {self.symbol} already close the position of {held} "
                    f"({'; '.join(self.preview.resting)}). Cancel them first to close it differently.")
        covered = self.preview.covered()
        return (f"Send {self.describe()} through the order gateway (risk checks apply) to close the position of "
                f"{held}?" + (f" Note: {covered}." if covered else ""))


def close_target(symbol: object) -> CloseTarget | None:
    """The target for a Close button's symbol, or None when it is malformed or there is no position."""
    if not isinstance(symbol, str) or not SYMBOL_PATTERN.match(symbol):
        return None
    with get_context().store.read() as session:
        preview = close_preview(session, symbol)
    return CloseTarget(symbol, Decimal(preview.held), preview) if preview.held != 0 else None


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


def close_position(symbol: object, seen_qty: object, nonce: object, seen_send: object = None) -> tuple[bool, str]:
    """(accepted, message). Sends only if the position is still the one the dialog showed, and (`seen_send`, the
    signed quantity the dialog said it would send) only that quantity: a position or open orders that changed
    meanwhile are reported, not closed with a stale quantity. The nonce makes a double click one order."""
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
        expect = dialog_qty(seen_send) if seen_send is not None else target.preview.qty
    except ArithmeticError:
        return False, "Not sent: the dialog's quantity is malformed; press Close again."
    ctx = get_context()
    # the order itself: the planner's close_position (engine/planner/execute.py), one implementation for every
    # caller; `expect`: it sends that quantity or nothing, so the message below describes what was sent
    outcome = close_position_order(ctx, target.symbol, web_actor(), key=f"close-{nonce}", origin="manual",
                                   limits=active_limits(ctx.store), expect=expect)
    trading_queries.forget()
    if outcome.status == "not_sent":
        return False, f"Not sent: {outcome.message}."
    what = target.describe()
    if outcome.status == "rejected":
        return False, f"Rejected: {what}: {outcome.message}"
    covered = target.preview.covered()
    return True, (f"Sent: {what} to close the position, status {outcome.status}: {outcome.message}."
                  + (f" Note: {covered}." if covered else ""))
