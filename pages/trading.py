"""Trading: the trade controls (kill switch, pause/resume, graceful shutdown) with live step
progress, positions with P&L, open orders with cancel, recent fills, a manual order ticket
(through the gateway), the last reconciliation and the audit trail of control actions."""
from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, ctx, dcc, html, no_update

from components.banner import KILL_FLATTEN_LABEL
from components.cards import STATUS_COLOURS, state_label
from components.confirm_modal import confirm_modal, flatten_option
from components.execution_panels import execution_section
from components.formatting import age
from components.ids import trading as ids
from components.shell import page_header
from components.trading_tables import (
    CANCEL_TYPE,
    ORDERS,
    POSITIONS,
    control_audit_table,
    fills_table,
    reconciliation_view,
    rejected_orders_table,
    steps_list,
)
from engine.auth.roles import Role
from engine.trading.control_steps import flatten_on_shutdown
from webapp import (
    execution_callbacks,
    queries,
    trading_lift,
    trading_orders,
    trading_positions,
    trading_queries,
    trading_ticket,
)
from webapp.auth.access import requires
from webapp.context import get_context
from webapp.control_actions import action_alert, reason_after, run_control
from webapp.inputs import is_click, text_or_default, triggered_by_click
from webapp.trading_close import close_position, close_target

log = logging.getLogger(__name__)
dash.register_page(__name__, path="/trading", name="Trading", order=5)
execution_callbacks.register_callbacks()  # stops form, stops and parents tables, cancel per parent
trading_ticket.callbacks.register()  # the manual order ticket
trading_lift.callbacks.register()  # Pause entries / Resume, and the dialog that confirms lifting a halt
trading_positions.callbacks.register()  # the positions card: a slot table, filled in place
trading_orders.callbacks.register()  # the open-orders card: a slot table, filled in place

REFRESH_MS = 1000
# The sections refresh() redraws when their data change; positions and open orders are webapp/trading_positions.py's
# and webapp/trading_orders.py's (slot tables drawn once and filled in place, so a click on a Close or Cancel button
# is never lost to a redraw).
SECTIONS = ("state", "progress", "fills", "reconcile", "audit", "rejections")
can_trade = trading_positions.can_close  # a trader's controls and a Close per position go together
_action_result = action_alert  # kept under its old name for callers and tests


def _controls(trader: bool) -> dbc.Card:
    """The controls; a viewer's page keeps the trader buttons hidden and disabled (the server refuses them anyway)."""
    trader_buttons = html.Span([
        dbc.Button("Pause entries", id=ids.PAUSE_BUTTON, color="warning", className="me-2", n_clicks=0,
                   disabled=not trader),
        dbc.Button("Resume", id=ids.RESUME_BUTTON, color="success", className="me-2", n_clicks=0,
                   disabled=not trader),
        dbc.Button("Graceful shutdown", id=ids.SHUTDOWN_BUTTON, color="dark", outline=True, n_clicks=0,
                   disabled=not trader),
    ], hidden=not trader)
    viewer_note = html.Span("Your role may press the kill switch; the other controls need a trader.",
                            className="small text-muted", id=ids.VIEWER_NOTE, hidden=trader)
    return dbc.Card(dbc.CardBody([
        html.Div(id=ids.STATE, className="mb-2"),
        dbc.Input(id=ids.REASON_INPUT, placeholder="Reason (stored in the audit trail)", size="sm",
                  className="mb-2", maxLength=200),
        html.Div([
            dbc.Button("Kill switch", id=ids.KILL_BUTTON, color="danger", className="me-2 fw-bold", n_clicks=0),
            trader_buttons, viewer_note,
        ]),
        html.Div(id=ids.ACTION_RESULT, className="mt-2"),
    ]), className="mb-3")


def _card(title: str, body_id: str) -> dbc.Card:
    return dbc.Card([dbc.CardHeader(title), dbc.CardBody(html.Div(id=body_id))], className="mb-3")


def layout(**_kwargs: object) -> html.Div:
    trader = can_trade()
    return html.Div([
        page_header("Trading", "Controls act through the same code as the command line: python -m engine halt, pause or resume"),
        dcc.Interval(id=ids.INTERVAL, interval=REFRESH_MS),
        dcc.Store(id=ids.FINGERPRINTS, data={}),
        trading_positions.shape_store(),
        trading_orders.shape_store(),
        dbc.Row([dbc.Col(_controls(trader), lg=6), dbc.Col(_card("Last control action (live)", ids.section("progress")), lg=6)]),
        # side by side only from 1400 px (xxl): the open orders' 11 columns and their Cancel button do not fit half
        # of a 1366 px laptop screen
        dbc.Row([dbc.Col([_card("Positions", ids.section("positions")), html.Div(id=ids.CLOSE_RESULT)], xxl=6),
                 dbc.Col(_card("Open orders", ids.section("orders")), xxl=6)]),
        html.Div(trading_ticket.ticket_card(), hidden=not trader, id=ids.TICKET_BOX),
        execution_section(trader),  # protective stops and sliced parents (webapp/execution_callbacks.py)
        dbc.Row([dbc.Col(_card("Recent fills", ids.section("fills")), lg=6),
                 dbc.Col(_card("Last reconciliation", ids.section("reconcile")), lg=6)]),
        _card("Rejected orders and why (the risk check's or the broker's own words)", ids.section("rejections")),
        _card("Audit trail of control actions", ids.section("audit")),
        confirm_modal(ids.KILL, "Kill switch: halt all trading?",
                      "Trading goes to HALTED at once, then every open order is cancelled.", "Halt now",
                      options=[flatten_option(ids.KILL_FLATTEN, KILL_FLATTEN_LABEL, allowed=trader)]),
        confirm_modal(ids.CLOSE, "Close position?", html.Div(id=ids.CLOSE_BODY), "Close position"),
        dcc.Store(id=ids.CLOSE_TARGET, data=None),
        dcc.Store(id=ids.CLOSE_NONCE, data=uuid.uuid4().hex),
        *trading_lift.lift_dialog(),  # confirms leaving HALTED by Pause or Resume (webapp/trading_lift.py)
        confirm_modal(ids.SHUTDOWN, "Graceful shutdown?", SHUTDOWN_WORDS, "Shut down", confirm_color="dark",
                      options=[_shutdown_flatten_box()]),
    ])


# What a shutdown does as control.perform runs it: a live engine runs the steps and stops (never taken over from it).
SHUTDOWN_WORDS = ("Trading goes to SHUTTING_DOWN at once: no new orders. The engine then cancels the open orders, "
                  "closes the positions if ticked below, disconnects the broker, saves the state and stops; trading "
                  "stays STOPPED until an operator resumes (a halt in force stays, and Resume asks to lift it). "
                  "When no engine is running, this web process runs those steps instead.")


def _flatten_param() -> bool | None:
    """TradingRisk flatten_on_shutdown of the active parameters, the default of the shutdown's flatten box, as the
    CLI and SIGTERM use it (None: unreadable)."""
    try:
        return flatten_on_shutdown(get_context())
    except Exception:  # noqa: BLE001 - the page still opens; the box then starts unticked and says why
        log.exception("could not read flatten_on_shutdown for the shutdown dialog")
        return None


def shutdown_flatten_label(on: bool | None) -> str:
    return ("Also close all positions before stopping (parameter flatten_on_shutdown: "
            f"{'could not be read' if on is None else ('on' if on else 'off')})")


def _shutdown_flatten_box() -> dbc.Checkbox:
    on = _flatten_param()
    return dbc.Checkbox(id=ids.SHUTDOWN_FLATTEN, label=shutdown_flatten_label(on), value=bool(on), className="mt-2")


# ---- live refresh -------------------------------------------------------------------------
def _state_view(state: dict | None) -> Any:
    if state is None:
        return html.Div("Trading state not initialised yet.", className="text-muted")
    seconds = (queries.now() - state["changed_at"]).total_seconds()
    return html.Div([
        dbc.Badge(state_label(state["state"]), color=STATUS_COLOURS.get(state["state"], "secondary"), className="fs-6 me-2",
                  id=ids.STATE_BADGE),
        html.Span(f"{state['reason']} — by {state['changed_by']}, {age(seconds)} ago"),
    ])


RENDER: dict[str, Callable[[Any], Any]] = {
    "state": _state_view, "progress": steps_list, "fills": fills_table, "reconcile": reconciliation_view, "audit": control_audit_table,
    "rejections": rejected_orders_table,
}


def refresh(fingerprints: dict[str, str] | None) -> tuple[list[Any], dict[str, str]]:
    """New children for the sections whose data changed (no_update for the rest)."""
    data, prints = trading_queries.sections()  # once per cache period for every tab and worker
    old = fingerprints or {}
    new = {k: v for k, v in prints.items() if k in SECTIONS}
    if data["state"] is not None:  # the age in the state line moves every second
        new["state"] = trading_queries.fingerprint([data["state"], int((queries.now() - data["state"]["changed_at"]).total_seconds())])
    outputs = [RENDER[k](data[k]) if new[k] != old.get(k) else no_update for k in SECTIONS]
    return outputs, new


@dash.callback([Output(ids.section(k), "children") for k in SECTIONS] + [Output(ids.FINGERPRINTS, "data")],
               Input(ids.INTERVAL, "n_intervals"), State(ids.FINGERPRINTS, "data"))
@requires(Role.VIEWER)
def refresh_trading(_n: int | None, fingerprints: dict[str, str] | None):
    outputs, new = refresh(fingerprints)
    if all(o is no_update for o in outputs):
        return [no_update] * (len(SECTIONS) + 1)
    return [*outputs, new]


# ---- controls -------------------------------------------------------------------------------
@dash.callback(Output(ids.KILL_MODAL, "is_open"),
               Input(ids.KILL_BUTTON, "n_clicks"), Input(ids.KILL_CANCEL, "n_clicks"),
               prevent_initial_call=True)
@requires(Role.VIEWER)
def toggle_kill(_o: int, _c: int) -> bool:
    return ctx.triggered_id == ids.KILL_BUTTON


@dash.callback(Output(ids.SHUTDOWN_MODAL, "is_open"), Output(ids.SHUTDOWN_FLATTEN, "value"),
               Output(ids.SHUTDOWN_FLATTEN, "label"),
               Input(ids.SHUTDOWN_BUTTON, "n_clicks"), Input(ids.SHUTDOWN_CANCEL, "n_clicks"),
               prevent_initial_call=True)
@requires(Role.VIEWER)
def toggle_shutdown(_o: int, _c: int) -> tuple[bool, Any, Any]:
    """Opening the dialog sets the flatten box from the parameter again (a version applied since the page loaded)."""
    if ctx.triggered_id != ids.SHUTDOWN_BUTTON:
        return False, no_update, no_update
    on = _flatten_param()
    return True, bool(on), shutdown_flatten_label(on)


def action_for(trigger: Any, kill_flatten: bool | None, shutdown_flatten: bool | None,
               order_keys: Any = None) -> dict[str, Any] | None:
    """Which control action a click means (None: not a real click, or a Cancel in a slot that showed no order).
    `order_keys`: the ctx.states_list entry of the open orders' key cells (which order each slot showed)."""
    if trigger == ids.KILL_CONFIRM:
        return {"action": "halt", "flatten": bool(kill_flatten)}
    if trigger == ids.PAUSE_BUTTON:
        return {"action": "pause"}
    if trigger == ids.RESUME_BUTTON:
        return {"action": "resume"}
    if trigger == ids.SHUTDOWN_CONFIRM:
        return {"action": "shutdown", "flatten": bool(shutdown_flatten)}
    if isinstance(trigger, dict) and trigger.get("type") == CANCEL_TYPE:
        order_id = trading_orders.clicked_order(order_keys, trigger)
        return {"action": "cancel_order", "order_id": order_id} if order_id is not None else None
    return None


@dash.callback(Output(ids.ACTION_RESULT, "children", allow_duplicate=True),
               Output(ids.KILL_MODAL, "is_open", allow_duplicate=True),
               Output(ids.FINGERPRINTS, "data", allow_duplicate=True),
               Output(ids.REASON_INPUT, "value", allow_duplicate=True),
               Input(ids.KILL_CONFIRM, "n_clicks"), State(ids.KILL_FLATTEN, "value"),
               State(ids.REASON_INPUT, "value"),
               prevent_initial_call=True)
@requires(Role.VIEWER)  # stopping never waits for more rights; flatten is re-checked (trader) in control.perform
def run_kill_switch(n: int | None, flatten: bool | None, reason: str | None):
    if not is_click(n):
        return no_update, no_update, no_update, no_update

    result = run_control("halt", reason=text_or_default(reason, "halt from the Trading page"), flatten=flatten is True)
    return action_alert(result), False, {}, reason_after(result)  # an accepted action empties the Reason box


@dash.callback(Output(ids.ACTION_RESULT, "children"),
               Output(ids.SHUTDOWN_MODAL, "is_open", allow_duplicate=True),
               Output(ids.FINGERPRINTS, "data", allow_duplicate=True),
               Output(ids.REASON_INPUT, "value", allow_duplicate=True),
               Input(ids.SHUTDOWN_CONFIRM, "n_clicks"),
               Input(ORDERS.buttons(), "n_clicks"),
               State(ids.SHUTDOWN_FLATTEN, "value"), State(ids.REASON_INPUT, "value"), State(ORDERS.keys(), "children"),
               prevent_initial_call=True)
@requires(Role.TRADER)
def run_action(*args: Any):
    shutdown_flatten, reason = args[-3], args[-2]
    if not triggered_by_click(ctx.triggered):
        return no_update, no_update, no_update, no_update  # a cancel button appearing, or a forged value: not a click
    spec = action_for(ctx.triggered_id, None, shutdown_flatten is True, ctx.states_list[-1])
    if spec is None or spec["action"] in ("pause", "resume"):  # those are webapp/trading_lift.py's
        return no_update, no_update, no_update, no_update

    action = spec.pop("action")
    result = run_control(action, reason=text_or_default(reason, f"{action} from the Trading page"), **spec)
    # {}: redraw every section on the next tick; an accepted action empties the Reason box
    return action_alert(result, spec.get("order_id")), False, {}, reason_after(result)


# ---- close position (a confirm dialog, then one market order through the gateway) ---------------------
@dash.callback(Output(ids.CLOSE_MODAL, "is_open"), Output(ids.CLOSE_BODY, "children"),
               Output(ids.CLOSE_TARGET, "data"),
               Input(POSITIONS.buttons(), "n_clicks"), Input(ids.CLOSE_CANCEL, "n_clicks"),
               State(POSITIONS.keys(), "children"), prevent_initial_call=True)
@requires(Role.TRADER)
def ask_close(*_args: Any):
    trigger = ctx.triggered_id
    if trigger == ids.CLOSE_CANCEL:
        return False, no_update, None
    if not triggered_by_click(ctx.triggered) or not isinstance(trigger, dict):
        return no_update, no_update, no_update  # a forged value: not a click
    target = close_target(trading_positions.clicked_symbol(ctx.states_list[0], trigger))
    if target is None:
        return False, no_update, None
    # the dialog says exactly what Confirm does (the orders it cancels, the market order, the orders left working)
    return True, target.dialog_text(), {"symbol": target.symbol, "qty": str(target.qty),
                                        "send": str(target.preview.qty), "cancel": target.cancel_ids()}


@dash.callback(Output(ids.CLOSE_RESULT, "children"), Output(ids.CLOSE_MODAL, "is_open", allow_duplicate=True),
               Output(ids.CLOSE_NONCE, "data"), Output(ids.FINGERPRINTS, "data", allow_duplicate=True),
               Input(ids.CLOSE_CONFIRM, "n_clicks"), State(ids.CLOSE_TARGET, "data"),
               State(ids.CLOSE_NONCE, "data"), prevent_initial_call=True)
@requires(Role.TRADER)
def confirm_close(n: int | None, target: Any, nonce: str):
    if not is_click(n) or not isinstance(target, dict):
        return no_update, False, no_update, no_update

    accepted, message = close_position(target.get("symbol"), target.get("qty"), nonce, target.get("send"),
                                       target.get("cancel"))
    alert = dbc.Alert(message, color="success" if accepted else "danger", dismissable=True, className="py-1 mb-0",
                      id=ids.CLOSE_ALERT)
    sent = not message.startswith("Not sent")
    return alert, False, (uuid.uuid4().hex if sent else nonce), {}
