"""The web's way to run a trade control: who the actor is, and one call to control.perform.

The banner and the Trading page both come here, so a button does exactly what the CLI does.
"""
from __future__ import annotations

import dataclasses
import logging
from decimal import Decimal
from typing import Any

import dash_bootstrap_components as dbc
from dash import no_update

from components.cards import state_label
from components.ids import trading as ids
from engine.auth import principal
from engine.trading import control
from webapp import live_cache, trading_queries
from webapp.context import get_context

log = logging.getLogger(__name__)

# How long a callback waits for a live engine to pick a command up before doing it itself.
HANDOFF_S = 1.0
# How long it then waits for the command to finish, so the message shows the final state (STOPPED, not
# SHUTTING_DOWN); a slower command is still shown live on the Trading page.
RESULT_WAIT_S = 8.0
CACHE_NOTE = ("Note: the live cache could not be refreshed (Redis is not reachable), so other screens may show the "
              "previous state for a few seconds.")


@dataclasses.dataclass(frozen=True)
class WebControlResult(control.ControlResult):
    """control.perform's outcome, plus what the web could not do after it (the trader reads both)."""

    note: str = ""


def web_actor() -> str:
    """The logged-in user as the audit trail names them ("web:<name>"); the guard set the principal."""
    who = principal.current()
    return who.actor if who.name else "web:anonymous"


def web_roles() -> set[str]:
    """The logged-in user's role, passed to control.perform so it re-checks what the guard allowed."""
    role = principal.current().role
    return {role} if role else set()


def run_control(action: str, reason: str = "", flatten: bool = False, order_id: int | str | None = None,
                lift_halt: bool | str = False) -> control.ControlResult:
    """lift_halt: the token of the halt the trader confirmed lifting in the dialog (HaltInfo.token); without it
    control.perform refuses to leave a halt, so one click can never lift one, and with it only that halt."""
    result = control.perform(get_context(), web_actor(), action, reason=reason, flatten=flatten, order_id=order_id,
                             handoff_s=HANDOFF_S, roles=web_roles(), wait_s=RESULT_WAIT_S, lift_halt=lift_halt)
    return WebControlResult(**{f.name: getattr(result, f.name) for f in dataclasses.fields(result)},
                            note="" if _forget_live_reads() else CACHE_NOTE)


def reason_after(result: control.ControlResult) -> Any:
    """The Reason box after an action: emptied once the action was accepted (its reason is recorded; the next
    action must not be audited with it), kept after a refusal so the trader can press again."""
    return "" if result.ok else no_update


def _forget_live_reads() -> bool:
    """trading_queries.forget()'s invalidation, best effort: the control is done whatever the cache says (with
    Redis down the kill switch's HALT committed, then a raised ConnectionError read "nothing was changed")."""
    try:
        return live_cache.forget()  # what trading_queries.forget() does, with its outcome
    except Exception:  # noqa: BLE001 - never turn a done control into an error
        log.exception("could not drop the cached live reads after a control action")
        return False


def _with_note(words: tuple[str, str], result: Any) -> tuple[str, str]:
    note = getattr(result, "note", "")
    return (f"{words[0]} {note}", words[1]) if note else words


def describe(result: control.ControlResult) -> tuple[str, str]:
    """A one-line message and a Bootstrap colour for an action's outcome (and the web's note, if any)."""
    return _with_note(_outcome(result), result)


def _outcome(result: control.ControlResult) -> tuple[str, str]:
    if result.status == "refused":
        return result.message, "danger"
    if result.status == "failed":
        return f"{result.action} finished with errors: {result.message}", "danger"
    state = f" Trading is now {state_label(result.state)}." if result.state else ""
    if (unchanged := _unchanged(result)) is not None:
        return unchanged, "secondary"
    if result.status == "done":
        extra = result.message.removeprefix("all steps done").lstrip("; ")  # e.g. the final sync's summary
        return f"{result.action} done.{state}" + (f" {extra}." if extra else ""), "success"
    so_far = f" Trading is {state_label(result.state)} so far." if result.state else ""
    if result.message:  # e.g. the engine that took the command stopped beating (control.perform says so)
        return f"{result.action} accepted ({result.status}), but {result.message}.{so_far}", "warning"
    return f"{result.action} accepted ({result.status}); its steps update live on the Trading page.{so_far}", "info"


def _unchanged(result: control.ControlResult) -> str | None:
    """The words for a pause or resume that found trading already in its target state ("already REDUCING"):
    the command and its audit row are recorded as usual, but the message must not read "pause done"."""
    if result.action not in ("pause", "resume") or result.status != "done" or not result.steps:
        return None
    first = result.steps[0]
    if first.name != result.action or not first.detail.startswith("already"):
        return None
    was = state_label(first.detail.removeprefix("already").split(";")[0].strip())
    others = [s.detail for s in result.steps[1:] if s.detail and not s.detail.startswith(("skipped", "cancelled 0 "))]
    if others:  # a pause still cancels entry orders that were resting; say so
        return f"{result.action}: trading was already {was}; the state is unchanged. " + "; ".join(others) + "."
    return f"{result.action}: trading was already {was}; nothing changed."


def short_order_id(client_order_id: str, keep: int = 8) -> str:
    """A client order id short enough for a message: "rd-" and its first `keep` characters, then "…"."""
    head, sep, rest = client_order_id.partition("-")
    if sep and head and len(rest) > keep + 1:
        return f"{head}-{rest[:keep]}…"
    return client_order_id if len(client_order_id) <= keep + 4 else client_order_id[:keep + 3] + "…"


def order_words(order: dict[str, Any] | None, order_id: Any) -> str:
    """"buy 10 AAPL (order rd-ab12cd34…)", or "order <id>" when the order is not in the store."""
    if not order:
        return f"order {order_id}" if str(order_id or "").strip() else "the order"
    qty = Decimal(str(order["qty"]))
    shown = f"{int(qty):,}" if qty == qty.to_integral_value() else format(qty.normalize(), "f")
    return f"{order['side']} {shown} {order['symbol']} (order {short_order_id(str(order['client_order_id']))})"


def cancel_message(result: Any, order: dict[str, Any] | None, order_id: Any) -> tuple[str, str]:
    """The cancel result the trader sees, naming the order: "cancel_order done: buy 10 AAPL (order rd-ab12cd34…)
    cancelled." The outcome is control.perform's; the words keep describe()'s "<action> done" form of the
    other actions."""
    what = order_words(order, order_id)
    action = result.action or "cancel_order"
    if result.status == "refused":
        return f"{action} refused for {what}: {result.message}", "danger"
    if result.status == "failed":
        return f"{action} finished with errors for {what}: {result.message}", "danger"
    if result.status == "done":
        return f"{action} done: {what} cancelled.", "success"
    return f"{action} of {what} accepted ({result.status}); its steps update live on the Trading page.", "info"


def action_alert(result: Any, order_id: Any = None) -> dbc.Alert:
    """The Trading page's alert for a control action's result (a cancel names its order)."""
    if getattr(result, "action", None) == "cancel_order":
        try:
            order = trading_queries.read_order(order_id)
        except Exception:  # noqa: BLE001 - the cancel already ran; a failed read only loses the order's words
            order = None
        message, colour = _with_note(cancel_message(result, order, order_id), result)
    else:
        message, colour = describe(result)
    return dbc.Alert(message, color=colour, dismissable=True, className="py-1 mb-0", id=ids.ACTION_ALERT)
