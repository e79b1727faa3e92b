"""The trading-state banner on every page: state, reason, who and how long ago, coloured by state,
with a kill switch that is always one click (plus a confirm) away."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, State, ctx, dcc, html, no_update

from components.cards import STATUS_COLOURS, state_label
from components.confirm_modal import confirm_modal, flatten_option
from components.formatting import age
from engine.auth import principal
from engine.auth.roles import Role, at_least
from webapp import queries
from webapp.auth.access import requires
from webapp.inputs import is_click

BANNER_REFRESH_MS = 1000
KILL_BODY = ("Trading goes to HALTED at once (no new orders), then every open order is cancelled. "
             "Positions stay unless you tick the box below.")


def banner_layout() -> html.Div:
    return html.Div(
        [
            dcc.Interval(id="banner-interval", interval=BANNER_REFRESH_MS),
            html.Div(
                [
                    html.Div(id="banner-state", className="flex-grow-1", children="Trading state: loading…"),
                    dbc.Button("Kill switch", id="banner-kill-button", color="danger", size="sm", n_clicks=0,
                               className="ms-2 fw-bold", title="Halt trading and cancel every open order"),
                ],
                id="banner-box", className="alert alert-secondary py-2 mb-2 d-flex align-items-center",
            ),
            html.Div(id="banner-engine", className="py-1 px-2 mb-2 small"),  # webapp/deadman.py: engine liveness
            html.Div(id="banner-kill-result"),
            confirm_modal("banner-kill", "Kill switch: halt all trading?", KILL_BODY, "Halt now",
                          options=[flatten_option("banner-kill-flatten",
                                                  allowed=at_least(principal.current().role, Role.TRADER))]),
        ]
    )


def banner_content(state: dict | None, now: datetime) -> tuple[Any, str]:
    if state is None:
        return (["Trading state: not initialised yet (the engine has not started)"],
                "alert alert-secondary py-2 mb-2 d-flex align-items-center")
    colour = STATUS_COLOURS.get(state["state"], "secondary")
    seconds = (now - state["changed_at"]).total_seconds()
    children = [
        html.Strong(f"Trading {state_label(state['state'])}", id="banner-state-name", **{"data-state": state["state"]}),
        html.Span(f" — {state['reason']} (by {state['changed_by']}, {age(seconds)} ago)", className="ms-1"),
    ]
    return children, f"alert alert-{colour} py-2 mb-2 d-flex align-items-center"


def fresh_banner() -> tuple[Any, str]:
    """Banner content read past the cache (right after an action)."""
    from engine.store import queries as store_queries
    from webapp.context import get_context

    with get_context().store.read() as s:
        state = store_queries.trading_state(s)
    return banner_content(state, queries.now())


def register_banner_callbacks(app: Dash) -> None:
    @app.callback(Output("banner-state", "children"), Output("banner-box", "className"),
                  Input("banner-interval", "n_intervals"))
    @requires(Role.VIEWER)
    def refresh_banner(_n: int | None):
        return banner_content(queries.trading_state(), queries.now())

    @app.callback(Output("banner-kill-modal", "is_open"),
                  Input("banner-kill-button", "n_clicks"), Input("banner-kill-cancel", "n_clicks"),
                  prevent_initial_call=True)
    @requires(Role.VIEWER)
    def toggle_kill_modal(_open: int, _cancel: int):
        return ctx.triggered_id == "banner-kill-button"

    @app.callback(Output("banner-kill-modal", "is_open", allow_duplicate=True),
                  Output("banner-kill-result", "children"),
                  Output("banner-state", "children", allow_duplicate=True),
                  Output("banner-box", "className", allow_duplicate=True),
                  Input("banner-kill-confirm", "n_clicks"), State("banner-kill-flatten", "value"),
                  prevent_initial_call=True)
    @requires(Role.VIEWER)
    def confirm_kill(n: int, flatten: bool | None):
        if not is_click(n):
            return no_update, no_update, no_update, no_update
        from webapp.control_actions import describe, run_control

        result = run_control("halt", reason="kill switch (banner)", flatten=bool(flatten))
        message, colour = describe(result)
        children, class_name = fresh_banner()
        alert = dbc.Alert(message, color=colour, dismissable=True, duration=15000, className="py-1 mb-2",
                          id="banner-kill-alert")
        return False, alert, children, class_name
