"""The trading-state banner's callbacks (its layout is components/banner.py), registered once per app by
create_app: the state refreshed every second, and the kill switch's confirm dialog."""
from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, State, ctx, html, no_update

from components.banner import banner, banner_content
from components.ids import banner as ids
from engine.auth import principal
from engine.auth.roles import Role, at_least
from engine.store import queries as store_queries
from webapp import queries
from webapp.auth.access import requires
from webapp.context import get_context
from webapp.control_actions import describe, run_control
from webapp.inputs import is_click
from webapp.wiring import Callbacks

__all__ = ["banner_content", "banner_layout", "callbacks", "fresh_banner", "register_banner_callbacks"]
callbacks = Callbacks()


def banner_layout() -> html.Div:
    """The banner for the signed-in user: the flatten box only for a role that may flatten."""
    return banner(can_flatten=at_least(principal.current().role, Role.TRADER))


def fresh_banner() -> tuple[Any, str]:
    """Banner content read past the cache (right after an action)."""
    with get_context().store.read() as s:
        state = store_queries.trading_state(s)
    return banner_content(state, queries.now())


@callbacks(Output(ids.STATE, "children"), Output(ids.BOX, "className"), Input(ids.INTERVAL, "n_intervals"))
@requires(Role.VIEWER)
def refresh_banner(_n: int | None):
    return banner_content(queries.trading_state(), queries.now())


@callbacks(Output(ids.KILL_MODAL, "is_open"),
           Input(ids.KILL_BUTTON, "n_clicks"), Input(ids.KILL_CANCEL, "n_clicks"),
           prevent_initial_call=True)
@requires(Role.VIEWER)
def toggle_kill_modal(_open: int, _cancel: int):
    return ctx.triggered_id == ids.KILL_BUTTON


@callbacks(Output(ids.KILL_MODAL, "is_open", allow_duplicate=True),
           Output(ids.KILL_RESULT, "children"),
           Output(ids.STATE, "children", allow_duplicate=True),
           Output(ids.BOX, "className", allow_duplicate=True),
           Input(ids.KILL_CONFIRM, "n_clicks"), State(ids.KILL_FLATTEN, "value"),
           prevent_initial_call=True)
@requires(Role.VIEWER)
def confirm_kill(n: int, flatten: bool | None):
    if not is_click(n):
        return no_update, no_update, no_update, no_update

    result = run_control("halt", reason="kill switch (banner)", flatten=bool(flatten))
    message, colour = describe(result)
    children, class_name = fresh_banner()
    alert = dbc.Alert(message, color=colour, dismissable=True, duration=15000, className="py-1 mb-2",
                      id=ids.KILL_ALERT)
    return False, alert, children, class_name


def register_banner_callbacks(app: Dash) -> None:
    """Once per app (create_app): the banner is part of the shell, so its callbacks go to the app itself."""
    callbacks.register(app)
