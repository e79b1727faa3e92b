"""The Trading page's Pause entries and Resume buttons, and the dialog that confirms leaving a halt by them.

Under a halt (HALTED, or the STOPPED of a shutdown that began HALTED: state.halt_in_force) a click only opens the
"Lift the halt?" dialog, which names the halt (reason, who, when) and keeps its token; its confirm runs the pause or
resume allowed to lift that halt only (control.perform re-checks under the state lock, and refuses when another
halt is in force by then). Elsewhere the click acts at once. A successful action clears the Reason box, so the
next action is never audited with this one's reason.

pages/trading.py places lift_dialog() and calls callbacks.register() each time Dash executes it for a new app.
"""
from __future__ import annotations

from typing import Any

from dash import Input, Output, State, dcc, html, no_update
from dash import ctx as dash_ctx

from components.confirm_modal import confirm_modal
from components.ids import trading as ids
from engine.auth.roles import Role
from engine.store.models import TradingStateRow
from engine.trading import control, control_lift
from engine.trading import state as trading_state
from engine.trading.state import HaltInfo, TradingState
from webapp.auth.access import requires
from webapp.context import get_context
from webapp.control_actions import action_alert, reason_after, run_control, web_actor
from webapp.inputs import is_click, text_or_default, triggered_by_click
from webapp.wiring import Callbacks

BUTTON_ACTIONS = {ids.PAUSE_BUTTON: "pause", ids.RESUME_BUTTON: "resume"}
LIFT_HALT = "trading-lift-halt"  # dcc.Store: the token of the halt the open dialog lifts (HaltInfo.token)
LIFT_HALT_TEXT = "trading-lift-halt-text"  # the halt's reason, who set it and when

callbacks = Callbacks()


def lift_dialog() -> list[Any]:
    """The confirm dialog, the store holding the pending action (pause or resume) and the one holding its halt."""
    body = html.Div([html.Div(id=ids.LIFT_BODY), html.Div(id=LIFT_HALT_TEXT, className="mt-2 fw-bold")])
    return [confirm_modal(ids.LIFT, "Lift the halt?", body, "Lift the halt", confirm_color="warning"),
            dcc.Store(id=ids.LIFT_ACTION, data=None), dcc.Store(id=LIFT_HALT, data=None)]


def current_state() -> TradingState | None:
    """The trading state read past the page's cache (a click decides on it)."""
    with get_context().store.read() as s:
        return trading_state.current(s).state if s.get(TradingStateRow, 1) is not None else None


def halt_now(action: str) -> HaltInfo | None:
    """The halt a pause or resume would lift now, read past the page's cache (None: it would lift none)."""
    with get_context().store.read() as s:
        if s.get(TradingStateRow, 1) is None:
            return None
        return control_lift.halt_to_lift(s, control.parse_action(action), trading_state.current(s).state)


def halt_text(halt: HaltInfo) -> str:
    return f"The halt: {halt.describe()}."


def pause_or_resume(action: str, reason: str | None) -> tuple[Any, ...]:
    """A click on Pause entries or Resume: (result alert, dialog open, dialog text, pending action, fingerprints,
    the halt's words, the halt's token, the Reason box).

    Under a halt it only opens the confirm dialog, naming the halt it lifts; elsewhere it acts at once.
    control.perform re-checks under the state lock (lift_halt=False), so a halt that lands between this read
    and the action is refused, not lifted."""
    halt = halt_now(action)
    if halt is not None:
        words = control_lift.lift_words(control.parse_action(action), halt)
        return no_update, True, words, action, no_update, halt_text(halt), halt.token, no_update
    result = run_control(action, reason=text_or_default(reason, f"{action} from the Trading page"), lift_halt=False)
    return action_alert(result), False, "", None, {}, "", None, reason_after(result)


@callbacks(Output(ids.ACTION_RESULT, "children", allow_duplicate=True),
           Output(ids.LIFT_MODAL, "is_open"), Output(ids.LIFT_BODY, "children"), Output(ids.LIFT_ACTION, "data"),
           Output(ids.FINGERPRINTS, "data", allow_duplicate=True), Output(LIFT_HALT_TEXT, "children"),
           Output(LIFT_HALT, "data"), Output(ids.REASON_INPUT, "value", allow_duplicate=True),
           Input(ids.PAUSE_BUTTON, "n_clicks"), Input(ids.RESUME_BUTTON, "n_clicks"),
           State(ids.REASON_INPUT, "value"), prevent_initial_call=True)
@requires(Role.TRADER)
def run_pause_resume(_p: int | None, _r: int | None, reason: str | None):
    if not triggered_by_click(dash_ctx.triggered):
        return (no_update,) * 8
    action = BUTTON_ACTIONS.get(dash_ctx.triggered_id)
    if action is None:
        return (no_update,) * 8
    return pause_or_resume(action, reason)


def lift_confirmed(action: Any, reason: str | None, halt: Any = None) -> tuple[Any, bool, None, Any, Any]:
    """The dialog's confirm: the pause or resume, allowed to lift only the halt the dialog showed (result alert,
    dialog open, pending action, fingerprints, the Reason box)."""
    if action not in ("pause", "resume"):
        return no_update, False, None, no_update, no_update
    if not isinstance(halt, str) or not halt:
        button = "Pause entries" if action == "pause" else "Resume"
        message = (f"{action} refused, nothing changed: the dialog did not say which halt it lifts. Press {button} "
                   "again to see the halt and confirm")
        refused = control.ControlResult(None, action, web_actor(), "refused", None, message)
        return action_alert(refused), False, None, no_update, no_update
    result = run_control(action, reason=text_or_default(reason, f"{action} from the Trading page (halt lifted)"),
                         lift_halt=halt)
    return action_alert(result), False, None, {}, reason_after(result)


@callbacks(Output(ids.ACTION_RESULT, "children", allow_duplicate=True),
           Output(ids.LIFT_MODAL, "is_open", allow_duplicate=True), Output(ids.LIFT_ACTION, "data", allow_duplicate=True),
           Output(ids.FINGERPRINTS, "data", allow_duplicate=True),
           Output(ids.REASON_INPUT, "value", allow_duplicate=True),
           Input(ids.LIFT_CONFIRM, "n_clicks"), Input(ids.LIFT_CANCEL, "n_clicks"),
           State(ids.LIFT_ACTION, "data"), State(ids.REASON_INPUT, "value"), State(LIFT_HALT, "data"),
           prevent_initial_call=True)
@requires(Role.TRADER)
def confirm_lift(n: int | None, _c: int | None, action: Any, reason: str | None, halt: Any):
    if dash_ctx.triggered_id == ids.LIFT_CANCEL:
        return no_update, False, None, no_update, no_update
    if not is_click(n):
        return no_update, no_update, no_update, no_update, no_update
    return lift_confirmed(action, reason, halt)
