"""A confirm dialog for actions that cannot be undone (kill switch, shutdown). No data access.

Ids derive from `prefix`: `{prefix}-modal`, `{prefix}-confirm`, `{prefix}-cancel`, plus any
option controls the caller passes (e.g. a "also flatten positions" checkbox).
"""
from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import html


def confirm_modal(prefix: str, title: str, body: Any, confirm_label: str, confirm_color: str = "danger",
                  options: list[Any] | None = None) -> dbc.Modal:
    return dbc.Modal(
        [
            dbc.ModalHeader(dbc.ModalTitle(title), close_button=True),
            dbc.ModalBody([html.Div(body, className="mb-2"), *(options or [])]),
            dbc.ModalFooter([
                dbc.Button("Cancel", id=f"{prefix}-cancel", color="secondary", outline=True, n_clicks=0),
                dbc.Button(confirm_label, id=f"{prefix}-confirm", color=confirm_color, n_clicks=0),
            ]),
        ],
        id=f"{prefix}-modal", is_open=False, backdrop="static", centered=True,
    )


def flatten_option(option_id: str, label: str = "Also flatten all positions (market orders)",
                   allowed: bool = True) -> dbc.Checkbox | html.Div:
    """The flatten box; for a role that may not flatten it is kept (callbacks read it) but hidden and off."""
    box = dbc.Checkbox(id=option_id, label=label, value=False, className="mt-2", disabled=not allowed)
    return box if allowed else html.Div(box, hidden=True)
