"""Trading page callbacks for execution: set or remove a position's protective exits, cancel a sliced parent,
and refresh both tables. Every change goes through engine/execution with the logged-in user as the actor
(audited there); bad input answers with a message naming the field, and nothing changes."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, ctx, no_update

from components.execution_panels import CANCEL_PARENT_TYPE, REMOVE_STOP_TYPE, parents_table, stops_table
from components.ids import trading as ids
from engine.auth import principal
from engine.auth.roles import Role, at_least
from engine.execution.parent_control import ParentError, cancel_parent, parent_views
from engine.execution.protect import attach_stop, cancel_stop, live_stops
from engine.execution.stops import StopError, StopSpec
from webapp import trading_queries
from webapp.auth.access import requires
from webapp.context import get_context
from webapp.control_actions import web_actor
from webapp.inputs import is_click, triggered_by_click
from webapp.live_cache import live_query
from webapp.manual_orders import SYMBOL_PATTERN
from webapp.wiring import Callbacks

callbacks = Callbacks()  # registered by pages/trading.py for each new app (register_callbacks)
FIELDS = (("loss", "stop-loss %", "stop_loss_pct"), ("trail", "trailing %", "trail_pct"),
          ("atr", "trailing ATRs", "trail_atr_mult"), ("profit", "take-profit %", "take_profit_pct"),
          ("hold", "max hold (minutes)", "max_hold_seconds"))


# Each field's upper bound in the form's own units (StopSpec checks the same, in its units: seconds for the
# hold), so a refusal names the field as labelled and quotes what was typed: (limit, limit allowed, words).
LIMITS: dict[str, tuple[Decimal, bool, str]] = {
    "loss": (Decimal(100), False, "below 100 (percent of the price)"),
    "trail": (Decimal(100), False, "below 100 (percent of the price)"),
    "atr": (Decimal(50), True, "at most 50 ATRs"),
    "profit": (Decimal(1000), True, "at most 1000 percent"),
    "hold": (Decimal(366 * 24 * 60), True, "at most a year (527,040 minutes)"),
}


class StopFormError(ValueError):
    """The stop form is incomplete or malformed; nothing was changed."""


def _number(value: Any, what: str) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str) or len(str(value)) > 24:
        raise StopFormError(f"{what} must be a number")
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise StopFormError(f"{what} must be a number") from None
    if not number.is_finite() or number <= 0:
        raise StopFormError(f"{what} must be a positive number, not {value}")
    return number


def parse_stop_form(symbol: Any, *values: Any) -> tuple[str, StopSpec]:
    """(symbol, spec) from the form; StopFormError / StopError name the field that is wrong."""
    sym = symbol.strip().upper() if isinstance(symbol, str) else ""
    if not SYMBOL_PATTERN.match(sym):
        raise StopFormError("enter the symbol of an open position (e.g. SPY)")
    kwargs: dict[str, Any] = {}
    for (suffix, label, name), raw in zip(FIELDS, values, strict=True):
        number = _number(raw, label)
        if number is not None:
            limit, allowed, words = LIMITS[suffix]
            if number > limit or (number == limit and not allowed):
                raise StopFormError(f"{label} must be above 0 and {words}, got {str(raw).strip()}")
            kwargs[name] = float(number) * 60 if name == "max_hold_seconds" else number
    spec = StopSpec(**kwargs)
    if spec.empty:
        raise StopFormError("fill at least one exit: stop-loss, trailing (% or ATRs), take-profit or max hold")
    return sym, spec


def set_stop_from_form(symbol: Any, *values: Any) -> tuple[bool, str]:
    try:
        sym, spec = parse_stop_form(symbol, *values)
        attach_stop(get_context(), sym, spec, web_actor())
    except (StopFormError, StopError) as exc:
        return False, f"Not set: {exc}."
    forget()
    return True, f"Exits set for {sym}; the engine checks them every market tick."


@live_query()
def execution_data() -> dict[str, Any]:
    with get_context().store.read() as s:
        return {"stops": live_stops(s), "parents": parent_views(s)}


def forget() -> None:
    trading_queries.forget()  # every live read, execution_data included


def _can_trade() -> bool:
    return at_least(principal.current().role, Role.TRADER)


@callbacks(Output(ids.STOPS, "children"), Output(ids.PARENTS, "children"),
           Output(ids.EXECUTION_PRINTS, "data"),
           Input(ids.INTERVAL, "n_intervals"), State(ids.EXECUTION_PRINTS, "data"))
@requires(Role.VIEWER)
def refresh_execution(_n: int | None, prints: dict[str, str] | None) -> tuple[Any, Any, Any]:
    data, old, trader = execution_data(), prints or {}, _can_trade()
    new = {k: trading_queries.fingerprint([data[k], trader]) for k in ("stops", "parents")}
    if new == old:
        return no_update, no_update, no_update
    stops = stops_table(data["stops"], trader) if new["stops"] != old.get("stops") else no_update
    parents = parents_table(data["parents"], trader) if new["parents"] != old.get("parents") else no_update
    return stops, parents, new


@callbacks(Output(ids.STOP_RESULT, "children"), Output(ids.EXECUTION_PRINTS, "data",
                                                              allow_duplicate=True),
           Input(ids.STOP_SUBMIT, "n_clicks"), State(ids.STOP_SYMBOL, "value"),
           *[State(ids.stop_field(suffix), "value") for suffix, _l, _n in FIELDS],
           prevent_initial_call=True)
@requires(Role.TRADER)
def submit_stop(n: int | None, symbol: Any, *values: Any) -> tuple[Any, Any]:
    if not is_click(n):
        return no_update, no_update
    ok, message = set_stop_from_form(symbol, *values)
    alert = dbc.Alert(message, color="success" if ok else "danger", className="py-1 mb-0", id=ids.STOP_ALERT)
    return alert, ({} if ok else no_update)


@callbacks(Output(ids.PARENT_RESULT, "children"), Output(ids.EXECUTION_PRINTS, "data",
                                                                allow_duplicate=True),
           Input({"type": REMOVE_STOP_TYPE, "index": ALL}, "n_clicks"),
           Input({"type": CANCEL_PARENT_TYPE, "index": ALL}, "n_clicks"),
           prevent_initial_call=True)
@requires(Role.TRADER)
def row_action(_stops: list[int | None], _parents: list[int | None]) -> tuple[Any, Any]:
    if not triggered_by_click(ctx.triggered):
        return no_update, no_update  # a button appearing is not a click
    message, colour = row_outcome(ctx.triggered_id)
    if message is None:
        return no_update, no_update
    return dbc.Alert(message, color=colour, className="py-1 mb-0", id=ids.PARENT_ALERT, dismissable=True), {}


def register_callbacks() -> None:
    """Called by pages/trading.py each time Dash executes it for a new app."""
    callbacks.register()


def row_outcome(trigger: Any) -> tuple[str | None, str]:
    """Remove a stop or cancel a parent for the clicked row; (message, colour)."""
    if not isinstance(trigger, dict):
        return None, ""
    kind, index = trigger.get("type"), trigger.get("index")
    if kind == REMOVE_STOP_TYPE and isinstance(index, str) and SYMBOL_PATTERN.match(index):
        removed = cancel_stop(get_context(), index, web_actor())
        forget()
        return (f"Exits removed for {index}." if removed else f"{index} had no live stop."), "secondary"
    if kind == CANCEL_PARENT_TYPE and isinstance(index, int) and not isinstance(index, bool):
        try:
            message = cancel_parent(get_context(), index, web_actor(), "canceled from the Trading page")
        except ParentError as exc:
            return f"Not canceled: {exc}.", "danger"
        forget()
        return message[0].upper() + message[1:] + ".", "success"
    return None, ""
