"""The Trading page's Pause entries and Resume buttons, and the dialog that confirms leaving HALTED by them.

From HALTED a click only opens the "Lift the halt?" dialog; its confirm runs the pause or resume allowed to lift
the halt (control.perform re-checks under the state lock). Elsewhere the click acts at once.

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
from engine.trading import control
from engine.trading import state as trading_state
from engine.trading.state import TradingState
from webapp.auth.access import requires
from webapp.context import get_context
from webapp.control_actions import action_alert, run_control
from webapp.inputs import is_click, text_or_default, triggered_by_click
from webapp.wiring import Callbacks

BUTTON_ACTIONS = {ids.PAUSE_BUTTON: "pause", ids.RESUME_BUTTON: "resume"}

callbacks = Callbacks()


def lift_dialog() -> list[Any]:
    """The confirm dialog and the store holding the pending action (pause or resume)."""
    return [confirm_modal(ids.LIFT, "Lift the halt?", html.Div(id=ids.LIFT_BODY), "Lift the halt", confirm_color="warning"),
            dcc.Store(id=ids.LIFT_ACTION, data=None)]


def current_state() -> TradingState | None:
    """The trading state read past the page's cache (a click decides on it)."""
    with get_context().store.read() as s:
        return trading_state.current(s).state if s.get(TradingStateRow, 1) is not None else None


def pause_or_resume(action: str, reason: str | None) -> tuple[Any, bool, str, str | None, Any]:
    """A click on Pause entries or Resume: (result alert, dialog open, dialog text, pending action, fingerprints).

    From HALTED it only opens the confirm dialog saying that the halt is lifted; elsewhere it acts at once.
    control.perform re-checks under the state lock (lift_halt=False), so a halt that lands between this read
    and the action is refused, not lifted."""
    words = control.LIFT_HALT_WORDS.get(control.parse_action(action))
    if words is not None and current_state() is TradingState.HALTED:
        return no_update, True, words, action, no_update
    result = run_control(action, reason=text_or_default(reason, f"{action} from the Trading page"), lift_halt=False)
    return action_alert(result), False, "", None, {}


@callbacks(Output(ids.ACTION_RESULT, "children", allow_duplicate=True),
           Output(ids.LIFT_MODAL, "is_open"), Output(ids.LIFT_BODY, "children"), Output(ids.LIFT_ACTION, "data"),
           Output(ids.FINGERPRINTS, "data", allow_duplicate=True),
           Input(ids.PAUSE_BUTTON, "n_clicks"), Input(ids.RESUME_BUTTON, "n_clicks"),
           State(ids.REASON_INPUT, "value"), prevent_initial_call=True)
@requires(Role.TRADER)
def run_pause_resume(_p: int | None, _r: int | None, reason: str | None):
    if not triggered_by_click(dash_ctx.triggered):
        return no_update, no_update, no_update, no_update, no_update
    action = BUTTON_ACTIONS.get(dash_ctx.triggered_id)
    if action is None:
        return no_update, no_update, no_update, no_update, no_update
    return pause_or_resume(action, reason)


def lift_confirmed(action: Any, reason: str | None) -> tuple[Any, bool, None, Any]:
    """The dialog's confirm: the pause or resume, allowed to lift the halt (result alert, dialog open, pending
    action, fingerprints)."""
    if action not in ("pause", "resume"):
        return no_update, False, None, no_update
    result = run_control(action, reason=text_or_default(reason, f"{action} from the Trading page (halt lifted)"),
                         lift_halt=True)
    return action_alert(result), False, None, {}


@callbacks(Output(ids.ACTION_RESULT, "children", allow_duplicate=True),
           Output(ids.LIFT_MODAL, "is_open", allow_duplicate=True), Output(ids.LIFT_ACTION, "data", allow_duplicate=True),
           Output(ids.FINGERPRINTS, "data", allow_duplicate=True),
           Input(ids.LIFT_CONFIRM, "n_clicks"), Input(ids.LIFT_CANCEL, "n_clicks"),
           State(ids.LIFT_ACTION, "data"), State(ids.REASON_INPUT, "value"), prevent_initial_call=True)
@requires(Role.TRADER)
def confirm_lift(n: int | None, _c: int | None, action: Any, reason: str | None):
    if dash_ctx.triggered_id == ids.LIFT_CANCEL:
        return no_update, False, None, no_update
    if not is_click(n):
        return no_update, no_update, no_update, no_update
    return lift_confirmed(action, reason)
