"""Small display factories: KPI cards and status badges."""
from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html

STATUS_COLOURS = {
    "healthy": "success", "degraded": "warning", "unhealthy": "danger", "unknown": "secondary",
    "ACTIVE": "success", "REDUCING": "warning", "HALTED": "danger", "SHUTTING_DOWN": "danger",
    "STOPPED": "dark", "ok": "success", "error": "danger", "skipped": "secondary",
}

# What a trading state means where a person reads it (the state name stays first: scripts and tests look for it).
STATE_MEANINGS = {"REDUCING": "entries paused"}


def state_label(state: str) -> str:
    """'REDUCING (entries paused)': a state with what it does, so "Pause entries" reads as what happened."""
    meaning = STATE_MEANINGS.get(state)
    return f"{state} ({meaning})" if meaning else state


def status_badge(status: str, id: str | dict | None = None) -> dbc.Badge:
    kwargs = {"id": id} if id is not None else {}
    return dbc.Badge(status, color=STATUS_COLOURS.get(status, "secondary"), className="me-1", **kwargs)


def kpi_card(title: str, value_id: str, subtitle_id: str | None = None) -> dbc.Card:
    """A card whose value (and optional subtitle) a callback fills in by id."""
    body = [html.Div(title, className="kpi-title"), html.Div("…", id=value_id, className="kpi-value")]
    if subtitle_id:
        body.append(html.Div("", id=subtitle_id, className="kpi-subtitle"))
    return dbc.Card(dbc.CardBody(body), className="kpi-card")
