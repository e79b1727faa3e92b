"""The trading-state banner on every page (layout only; its callbacks are in webapp/banner.py): state, reason,
who and how long ago, coloured by state, with a kill switch that is always one click (plus a confirm) away."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from components.cards import STATUS_COLOURS, state_label
from components.confirm_modal import confirm_modal, flatten_option
from components.formatting import age
from components.ids import banner as ids

BANNER_REFRESH_MS = 1000
KILL_BODY = ("Trading goes to HALTED at once (no new orders), then every open order is cancelled. "
             "Positions stay unless you tick the box below.")
# The kill switch's flatten box, in the words the HALTED order refusal points to (engine/trading/risk.py).
KILL_FLATTEN_LABEL = "Also close all positions (flatten, market orders)"
KILL_BODY_VIEWER = ("Trading goes to HALTED at once (no new orders), then every open order is cancelled. "
                    "Positions stay: closing them needs the trader role.")


def banner(can_flatten: bool) -> html.Div:
    """The banner; a role that may not flatten keeps the flatten box hidden and off."""
    return html.Div(
        [
            dcc.Interval(id=ids.INTERVAL, interval=BANNER_REFRESH_MS),
            html.Div(
                [
                    html.Div(id=ids.STATE, className="flex-grow-1", children="Trading state: loading…"),
                    dbc.Button("Kill switch", id=ids.KILL_BUTTON, color="danger", size="sm", n_clicks=0,
                               className="ms-2 fw-bold", title="Halt trading and cancel every open order"),
                ],
                id=ids.BOX, className="alert alert-secondary py-2 mb-2 d-flex align-items-center",
            ),
            html.Div(id=ids.ENGINE, className="py-1 px-2 mb-2 small"),  # webapp/deadman.py: engine liveness
            html.Div(id=ids.KILL_RESULT),
            confirm_modal(ids.KILL, "Kill switch: halt all trading?", KILL_BODY if can_flatten else KILL_BODY_VIEWER,
                          "Halt now", options=[flatten_option(ids.KILL_FLATTEN, KILL_FLATTEN_LABEL,
                                                              allowed=can_flatten)]),
        ]
    )


def banner_content(state: dict | None, now: datetime) -> tuple[Any, str]:
    """The banner's children and class for a trading state (None: the engine has not started yet)."""
    if state is None:
        return (["Trading state: not initialised yet (the engine has not started)"],
                "alert alert-secondary py-2 mb-2 d-flex align-items-center")
    colour = STATUS_COLOURS.get(state["state"], "secondary")
    seconds = (now - state["changed_at"]).total_seconds()
    children = [
        html.Strong(f"Trading {state_label(state['state'])}", id=ids.STATE_NAME, **{"data-state": state["state"]}),
        html.Span(f" — {state['reason']} (by {state['changed_by']}, {age(seconds)} ago)", className="ms-1"),
    ]
    return children, f"alert alert-{colour} py-2 mb-2 d-flex align-items-center"
