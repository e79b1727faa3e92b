"""The Trading page's **Close position** action: make the position flat. Open orders that would add to it are
canceled (the audited cancel_order action, in the trader's name), then one market order for what the reducing
open orders leave (those stay working); the dialog and the result name all of it. Through the order gateway
(engine.planner.api.close_position, origin "manual": the manual ticket's role and risk checks), so a close obeys
the trading state like any manual order (REDUCING allows it: it only reduces; HALTED refuses it). A cancel that
fails sends nothing. The web side adds the dialog's guard: the position, the market order and the orders to
cancel must still be the ones the trader confirmed."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from engine.planner.api import CANCELED_ONLY, ClosePreview, close_preview
from engine.planner.api import close_position as close_position_order
from engine.trading.brokers.base import OrderSide
from engine.trading.risk_limits import active_limits
from webapp import trading_queries
from webapp.context import get_context
from webapp.control_actions import web_actor, web_roles
from webapp.manual_orders import SYMBOL_PATTERN


@dataclass(frozen=True)
class CloseTarget:
    """The position the dialog asked about: its symbol, the quantity the trader saw, and what a close does (the
    orders it cancels, the market order for what the reducing open orders leave: the dialog says so)."""

    symbol: str
    qty: Decimal
    preview: ClosePreview

    @property
    def side(self) -> OrderSide:
        return OrderSide(self.preview.side)

    def describe(self) -> str:
        return self.preview.describe()

    def cancel_ids(self) -> list[int]:
        """The ids of the orders Confirm cancels (the dialog's state: they must still be the ones to cancel)."""
        return [o.id for o in self.preview.cancels]

    def dialog_text(self) -> str:
        """Exactly what Confirm does: the orders it cancels, the market order's quantity, the orders left working."""
        held = f"{abs(self.qty).normalize():,f} {self.symbol} ({'long' if self.qty > 0 else 'short'})"
        cancel = (f"Cancel {self.preview.canceled_words()} (it would add to the position)"
                  if self.preview.cancels else "")
        if not self.preview.sends:
            already = (f"the open orders in {self.symbol} already close the position of {held} "
                       f"({'; '.join(self.preview.resting)})")
            if cancel:
                return f"{cancel}? Nothing else would be sent: {already}."
            return f"Nothing would be sent: {already}. Cancel them first to close it differently."
        covered = self.preview.covered()
        send = f"send {self.describe()}" if cancel else f"Send {self.describe()}"
        return ((f"{cancel} and " if cancel else "") + f"{send} through the order gateway (risk checks apply) to "
                f"close the position of {held}?"
                + (" If a cancel fails (the order filled meanwhile), nothing is sent." if cancel else "")
                + (f" Note: {covered}." if covered else ""))


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


MAX_CANCELS = 100  # far beyond the open orders of one symbol; a longer list is a forged value


def dialog_cancels(value: object) -> list[int] | None:
    """The order ids the dialog said it would cancel (None: a caller with no dialog); ArithmeticError for anything
    but a short list of non-negative ints (a bool, a string, a float, a nested list)."""
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_CANCELS:
        raise ArithmeticError(value)
    if any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in value):
        raise ArithmeticError(value)
    return list(value)


def close_position(symbol: object, seen_qty: object, nonce: object, seen_send: object = None,
                   seen_cancel: object = None) -> tuple[bool, str]:
    """(accepted, message). Acts only if the position is still the one the dialog showed, and (`seen_send`, the
    signed quantity the dialog said it would send; `seen_cancel`, the ids of the orders it said it would cancel)
    does only that: a position or open orders that changed meanwhile are reported, not closed with stale
    figures. The nonce makes a double click one order."""
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
        cancels = dialog_cancels(seen_cancel)
    except ArithmeticError:
        return False, "Not sent: the dialog's quantity is malformed; press Close again."
    ctx = get_context()
    # the close itself: the planner's close_position (engine/planner/close.py), one implementation for every
    # caller; `expect` and `cancels`: it does that or nothing, so the message below describes what was done
    outcome = close_position_order(ctx, target.symbol, web_actor(), key=f"close-{nonce}", origin="manual",
                                   limits=active_limits(ctx.store), expect=expect, cancels=cancels,
                                   roles=web_roles())
    trading_queries.forget()
    canceled = f"Canceled {'; '.join(outcome.canceled)}" if outcome.canceled else ""
    if outcome.status == CANCELED_ONLY:  # the cancels were all the close had to do
        return True, f"{canceled}; {outcome.message}."
    if outcome.status == "not_sent":
        return False, f"Not sent: {outcome.message}."
    what = target.describe()
    if outcome.status == "rejected":
        return False, (f"{canceled}, but rejected" if canceled else "Rejected") + f": {what}: {outcome.message}"
    covered = target.preview.covered()
    return True, ((f"{canceled}, then sent" if canceled else "Sent") + f": {what} to close the position, status "
                  f"{outcome.status}: {outcome.message}." + (f" Note: {covered}." if covered else ""))
