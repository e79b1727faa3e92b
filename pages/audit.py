"""Audit: every control action, parameter change, login and automatic trigger, searched on the server.

Filters and paging run in the store (engine.store.audit_queries), so the whole history is reachable,
not only the newest rows; traders and admins can download the filtered trail as CSV.
"""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, ctx, dcc, html, no_update

from components import formatting as fmt
from components.ids import audit as ids
from components.shell import page_header
from components.tables import column, records_grid
from engine.auth import principal
from engine.auth.roles import Role, at_least
from engine.store import audit_queries as aq
from webapp.audit_view import export_link, hidden_actions, parse_filter
from webapp.auth.access import requires
from webapp.context import get_context

dash.register_page(__name__, path="/audit", name="Audit", order=7)

PAGE_SIZE = 100
MAX_PAGE = 10**7  # pages of PAGE_SIZE events: far beyond any store, and a number JSON and SQL both hold
COLUMNS = [
    column("ts", "Time (wall clock, UTC)", maxWidth=200), column("actor", maxWidth=170),
    column("role", maxWidth=90), column("source", maxWidth=130), column("kind", maxWidth=110),
    column("action", maxWidth=220), column("target", maxWidth=180), column("outcome", maxWidth=110),
    column("details", flex=2, tooltipField="details"),
]
FILTER_IDS = {"user": ids.FILTER_USER, "action": ids.FILTER_ACTION, "kind": ids.FILTER_KIND,
              "outcome": ids.FILTER_OUTCOME}


def _filters() -> dbc.Row:
    return dbc.Row([
        dbc.Col(dbc.Input(id=ids.FILTER_USER, placeholder="User (part of the name)", size="sm", maxLength=64,
                          debounce=True), md=2),
        dbc.Col(dcc.Dropdown(id=ids.FILTER_ACTION, placeholder="Action", clearable=True), md=3),
        dbc.Col(dcc.Dropdown(id=ids.FILTER_KIND, placeholder="Kind", clearable=True,
                             options=[{"label": "operator (people)", "value": "operator"},
                                      {"label": "automatic (engine)", "value": "automatic"}]), md=2),
        dbc.Col(dcc.Dropdown(id=ids.FILTER_OUTCOME, placeholder="Outcome", clearable=True,
                             options=[{"label": o, "value": o} for o in
                                      ("ok", "requested", "refused", "failed", "locked", "disabled")]), md=2),
        dbc.Col(dcc.DatePickerRange(id=ids.FILTER_DATES, clearable=True, display_format="YYYY-MM-DD",
                                    start_date_placeholder_text="From", end_date_placeholder_text="To"), md=3),
    ], className="g-2 mb-2")


def layout(**_kwargs: object) -> html.Div:
    may_export = at_least(principal.current().role, Role.TRADER)
    export = html.A("Download CSV", id=ids.EXPORT, href="/audit.csv", className="btn btn-outline-secondary btn-sm",
                    download="") if may_export else html.A(id=ids.EXPORT, hidden=True)
    return html.Div([
        page_header("Audit trail", "Newest first; every change of trading state, parameters, orders and logins"),
        dcc.Interval(id=ids.INTERVAL, interval=5000),
        dcc.Store(id=ids.PAGE, data=0),
        _filters(),
        html.Div([
            dbc.ButtonGroup([dbc.Button("‹ Newer", id=ids.PREV, size="sm", color="secondary", n_clicks=0),
                             dbc.Button("Older ›", id=ids.NEXT, size="sm", color="secondary", n_clicks=0)],
                            className="me-2"),
            html.Span(id=ids.COUNT, className="small text-muted me-3"), export,
        ], className="d-flex align-items-center mb-2"),
        records_grid(ids.GRID, COLUMNS, height=600),
    ])


def _values(user: object, action: object, kind: object, outcome: object, start: object, end: object) -> dict:
    return {"user": user, "action": action, "kind": kind, "outcome": outcome, "since": start, "until": end}


@dash.callback(Output(ids.PAGE, "data"),
               Input(ids.PREV, "n_clicks"), Input(ids.NEXT, "n_clicks"),
               Input(ids.FILTER_USER, "value"), Input(ids.FILTER_ACTION, "value"),
               Input(ids.FILTER_KIND, "value"), Input(ids.FILTER_OUTCOME, "value"),
               Input(ids.FILTER_DATES, "start_date"), Input(ids.FILTER_DATES, "end_date"),
               State(ids.PAGE, "data"), prevent_initial_call=True)
@requires(Role.VIEWER)
def turn_page(_prev: object, _next: object, *args: object) -> int:
    current = args[-1] if isinstance(args[-1], int) and not isinstance(args[-1], bool) else 0
    current = current if 0 <= current < MAX_PAGE else 0  # a forged page number starts again at the newest
    if ctx.triggered_id == ids.NEXT:
        return current + 1
    if ctx.triggered_id == ids.PREV:
        return max(0, current - 1)
    return 0  # a new filter starts at the newest page


@dash.callback(Output(ids.GRID, "rowData"), Output(ids.COUNT, "children"), Output(ids.EXPORT, "href"),
               Output(ids.FILTER_ACTION, "options"), Output(ids.PREV, "disabled"), Output(ids.NEXT, "disabled"),
               Input(ids.INTERVAL, "n_intervals"), Input(ids.PAGE, "data"),
               Input(ids.FILTER_USER, "value"), Input(ids.FILTER_ACTION, "value"),
               Input(ids.FILTER_KIND, "value"), Input(ids.FILTER_OUTCOME, "value"),
               Input(ids.FILTER_DATES, "start_date"), Input(ids.FILTER_DATES, "end_date"))
@requires(Role.VIEWER)
def refresh_audit(_n: object, number: object, user: object, action: object, kind: object, outcome: object,
                  start: object, end: object):
    values = _values(user, action, kind, outcome, start, end)
    page_no = number if isinstance(number, int) and not isinstance(number, bool) and 0 <= number < MAX_PAGE else 0
    with get_context().store.read() as s:
        events, total = aq.page(s, parse_filter(values), page_no, PAGE_SIZE)
        actions = aq.distinct_actions(s, hidden_actions()) if ctx.triggered_id in (None, ids.INTERVAL) else None
    rows = [{**e, "ts": fmt.timestamp(e["ts"]), "details": aq.readable_details(e["details"])} for e in events]
    first = page_no * PAGE_SIZE
    count = (f"events {first + 1}–{first + len(rows)} of {total}" if rows else f"no events here ({total} match)")
    options = [{"label": a, "value": a} for a in actions] if actions is not None else no_update
    # Newer on the newest page and Older on the oldest lead nowhere (an empty page, a click back): disabled
    return rows, count, export_link(values), options, page_no == 0, first + len(rows) >= total
