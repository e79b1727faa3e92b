"""Audit: every control action, parameter change and automatic trigger, who and when."""
from __future__ import annotations

import json

import dash
from dash import Input, Output, dcc, html

from components import formatting as fmt
from components.shell import page_header
from components.tables import records_grid
from engine.auth.roles import Role
from webapp import queries
from webapp.auth.access import requires

dash.register_page(__name__, path="/audit", name="Audit", order=7)

COLUMNS = [
    {"field": "ts", "headerName": "Time", "maxWidth": 190}, {"field": "actor", "maxWidth": 180},
    {"field": "action", "maxWidth": 220}, {"field": "target", "maxWidth": 200}, {"field": "outcome", "maxWidth": 110},
    {"field": "details", "flex": 2},
]


def layout(**_kwargs: object) -> html.Div:
    return html.Div([
        page_header("Audit trail", "Newest first; every change of trading state, parameters and orders"),
        dcc.Interval(id="audit-interval", interval=3000),
        html.Div(id="audit-count", className="small text-muted mb-1"),
        records_grid("audit-grid", COLUMNS, height=600),
    ])


@dash.callback(Output("audit-grid", "rowData"), Output("audit-count", "children"), Input("audit-interval", "n_intervals"))
@requires(Role.VIEWER)
def refresh_audit(_n: int | None):  # type: ignore[no-untyped-def]
    events = queries.audit_events(500)
    rows = [{**e, "ts": fmt.timestamp(e["ts"]), "details": json.dumps(e["details"], default=str)} for e in events]
    return rows, f"{len(rows)} most recent events"
