"""Performance: the live account's whole history with the same metrics code as backtests.

Equity (the account's, deposits and withdrawals marked) and drawdown from the running peak (flow-adjusted, as
the max drawdown), metrics with their definitions, P&L per regime,
daily P&L, round trips with win rate, fills counted over the whole history, one symbol's price with its
fills, and CSV downloads; all for a date range in market time. Return metrics are measured on a regular grid
(daily, hourly or minute closes in the market's timezone, chosen by the history's length), which the metrics
table states as its first row. Data: webapp/performance_data.py.
"""
from __future__ import annotations

from datetime import datetime

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html, no_update

from components import formatting as fmt
from components.cards import kpi_card
from components.charts import empty_figure, graph
from components.ids import performance as ids
from components.shell import page_header
from components.tables import column, records_grid
from engine.auth.roles import Role
from engine.store.performance_queries import flows_between
from webapp import performance_display as show
from webapp.auth.access import requires
from webapp.cache import cache
from webapp.context import get_context
from webapp.csv_safety import spreadsheet_safe_csv
from webapp.market_time import market_clock_label
from webapp.performance_data import (
    FILLS_SHOWN,
    VIEW_TTL_SECONDS,
    PerformanceView,
    account_span,
    parse_day,
    performance_view,
)
from webapp.performance_symbol import symbol_outputs, symbols
from webapp.queries import fingerprint

dash.register_page(__name__, path="/performance", name="Performance", order=6)

REFRESH_MS = 10_000
FILL_COLUMNS = [column("ts", "Time (market time)")] + [
    column(c) for c in ("symbol", "side", "qty", "price", "commission", "client_order_id")]
EMPTY = "no account snapshots in this range"


def layout(symbol: object = None, **_kwargs: object) -> html.Div:
    """`symbol` (from /performance?symbol=X, the positions tables' links) preselects the symbol chart."""
    picked = symbol if isinstance(symbol, str) and 0 < len(symbol) <= 32 else None
    return html.Div([
        page_header("Performance", "The account's whole history: metrics, drawdown from peak, P&L per regime"),
        dcc.Interval(id=ids.INTERVAL, interval=REFRESH_MS),
        dcc.Store(id=ids.SHOWN),
        dcc.Download(id=ids.DOWNLOAD),
        dbc.Row([
            dbc.Col([html.Label("Date range (market days: trading sessions in the market's timezone)", className="small"),
                     dcc.DatePickerRange(id=ids.RANGE, clearable=True, display_format="YYYY-MM-DD",
                                         start_date_id="performance-range-start", end_date_id="performance-range-end"),
                     html.Div(id=ids.RANGE_HINT, className="small text-muted")],
                    md=5),
            dbc.Col(dbc.ButtonGroup([
                dbc.Button("Equity CSV", id=ids.CSV_EQUITY, size="sm", outline=True, title=show.EQUITY_CSV_HELP),
                dbc.Button("Returns CSV", id=ids.CSV_RETURNS, size="sm", outline=True,
                           title="the regular-grid closes and returns the metrics are computed from"),
                dbc.Button("Round trips CSV", id=ids.CSV_TRADES, size="sm", outline=True),
                dbc.Button("Metrics CSV", id=ids.CSV_METRICS, size="sm", outline=True),
            ]), md=4, className="d-flex align-items-end"),
            dbc.Col(html.Div(id=ids.CLOCK, className="small text-muted"), md=3),
        ], className="g-2 mb-2"),
        html.Div(id=ids.NOTES, className="small text-muted mb-2"),
        dbc.Row([
            dbc.Col(kpi_card("Return in range", ids.RETURN, ids.SPAN), md=3),
            dbc.Col(kpi_card("Drawdown from peak (risk engine)", ids.DRAWDOWN, ids.PEAK), md=3),
            dbc.Col(kpi_card("Fills in range", ids.FILLS_COUNT, ids.COMMISSION), md=3),
            dbc.Col(kpi_card("Round trips", ids.TRIPS_COUNT, ids.WIN_RATE), md=3),
        ], className="g-2 mb-2"),
        graph(ids.EQUITY, empty_figure("waiting for account snapshots…")),
        graph(ids.DRAWDOWN_CHART, empty_figure("")),
        graph(ids.DAILY, empty_figure("")),
        dbc.Row([
            dbc.Col([html.H6("Metrics"), html.Div(id=ids.METRICS)], md=8),
            dbc.Col([html.H6("P&L per regime"), html.Div(id=ids.REGIMES)], md=4),
        ], className="g-2"),
        html.H6("Round trips (first-in first-out per symbol, newest first)", className="mt-3"),
        records_grid(ids.TRIPS, show.TRIP_COLUMNS, height=300),
        html.H6(f"Fills (newest {FILLS_SHOWN} of the range)", className="mt-3"),
        records_grid(ids.FILLS, FILL_COLUMNS, height=260),
        html.H6("One symbol: price and fills", className="mt-3"),
        dbc.Row([
            dbc.Col(dcc.Dropdown(id=ids.SYMBOL, value=picked, options=[picked] if picked else [],
                                         placeholder="symbol with fills or a position"), md=3),
            dbc.Col(html.Div(id=ids.SYMBOL_PNL, className="small"), md=9),
        ], className="g-2"),
        graph(ids.SYMBOL_CHART, empty_figure("pick a symbol")),
    ])


def _key(value: object) -> str | None:
    day = parse_day(value)
    return day.isoformat() if day else None


@dash.callback(
    Output(ids.RANGE, "min_date_allowed"), Output(ids.RANGE, "max_date_allowed"),
    Output(ids.SYMBOL, "options"), Output(ids.CLOCK, "children"), Output(ids.RANGE_HINT, "children"),
    Input(ids.INTERVAL, "n_intervals"),
)
@requires(Role.VIEWER)
def refresh_bounds(_n: int | None) -> tuple[object, ...]:
    """The days the picker offers, said in words too: the picker silently ignores a typed day outside them."""
    span = account_span()
    if span is None:
        return None, None, symbols(), market_clock_label(), "no account history yet"
    first, last = span.first_ts.date().isoformat(), span.last_ts.date().isoformat()
    return first, last, symbols(), market_clock_label(), f"history {first} → {last}: days outside it cannot be chosen"


@dash.callback(
    Output(ids.EQUITY, "figure"), Output(ids.DRAWDOWN_CHART, "figure"),
    Output(ids.DAILY, "figure"), Output(ids.RETURN, "children"),
    Output(ids.SPAN, "children"), Output(ids.DRAWDOWN, "children"),
    Output(ids.PEAK, "children"), Output(ids.FILLS_COUNT, "children"),
    Output(ids.COMMISSION, "children"), Output(ids.TRIPS_COUNT, "children"),
    Output(ids.WIN_RATE, "children"), Output(ids.METRICS, "children"),
    Output(ids.REGIMES, "children"), Output(ids.TRIPS, "rowData"),
    Output(ids.FILLS, "rowData"), Output(ids.NOTES, "children"),
    Output(ids.SHOWN, "data"),
    Input(ids.INTERVAL, "n_intervals"), Input(ids.RANGE, "start_date"),
    Input(ids.RANGE, "end_date"), State(ids.SHOWN, "data"),
)
@requires(Role.VIEWER)
def refresh_performance(_n: int | None, start: str | None, end: str | None,
                        shown: str | None) -> tuple[object, ...]:
    first, last = parse_day(start), parse_day(end)
    start, end = _key(start), _key(end)  # unreadable dates mean an open side, and share one cache entry
    view = performance_view(start, end) if not (first and last and first > last) else None
    if view is None:
        message = "the start date is after the end date" if first and last and first > last else EMPTY
        empty = empty_figure(message)
        return (empty, empty, empty, "—", message, "—", "", "0", "", "0", "", html.Div(message, className="text-muted"),
                "", [], [], "", None)
    stamp = fingerprint((start, end, view.span, view.fill_count, view.stored_peak, view.latest_equity))
    if stamp == shown:
        return (no_update,) * 17
    return (*rendered(start, end, stamp), stamp)


@cache.memoize(timeout=VIEW_TTL_SECONDS)
def rendered(start: str | None, end: str | None, _stamp: str) -> tuple[object, ...]:
    """The callback's outputs for a range, built once per view (`_stamp`) for every tab showing it."""
    view = performance_view(start, end)
    assert view is not None
    m = view.metrics
    fills = [{**f, "ts": fmt.timestamp(f["ts"] if isinstance(f["ts"], datetime) else None)} for f in view.fills]
    dd = view.drawdown_from_peak
    return (
        show.equity_figure(view), show.drawdown_figure(view), show.daily_figure(view),
        show.format_metric("total_return", m["total_return"]),
        f"{view.span.first_ts:%Y-%m-%d %H:%M} → {view.span.last_ts:%Y-%m-%d %H:%M}{_flows_text(view)}",
        fmt.pct(dd * 100.0) if dd is not None else "—",
        f"peak {fmt.money(view.stored_peak)} (stored by the risk engine)",
        f"{view.fill_count:,}", f"commission {fmt.money(view.commission)}",
        f"{m['trades']:,}", f"win rate {show.format_metric('win_rate', m['win_rate'])}",
        show.metrics_table(view), show.regime_table(view), show.trip_rows(view), fills,
        " · ".join(view.notes + show.flow_note(view)),
    )


def _flows_text(view: PerformanceView) -> str:
    """Deposits and withdrawals in the range, said beside its return (which leaves them out); "" without any."""
    with get_context().store.read() as session:
        total = flows_between(session, view.span.first_id, view.span.last_id)
    return f" · deposits/withdrawals {total:+,.2f} (not in the return)" if total else ""


@dash.callback(
    Output(ids.SYMBOL_CHART, "figure"), Output(ids.SYMBOL_PNL, "children"),
    Input(ids.SYMBOL, "value"), Input(ids.RANGE, "start_date"),
    Input(ids.RANGE, "end_date"),
)
@requires(Role.VIEWER)
def refresh_symbol(symbol: str | None, start: str | None, end: str | None) -> tuple[object, ...]:
    if not isinstance(symbol, str) or symbol not in symbols():
        return empty_figure("pick a symbol"), ""
    return symbol_outputs(symbol, _key(start), _key(end))


@dash.callback(
    Output(ids.DOWNLOAD, "data"),
    Input(ids.CSV_EQUITY, "n_clicks"), Input(ids.CSV_TRADES, "n_clicks"),
    Input(ids.CSV_METRICS, "n_clicks"), Input(ids.CSV_RETURNS, "n_clicks"),
    State(ids.RANGE, "start_date"), State(ids.RANGE, "end_date"),
    prevent_initial_call=True,
)
@requires(Role.VIEWER)
def download_csv(_e: int | None, _t: int | None, _m: int | None, _r: int | None, start: str | None,
                 end: str | None) -> object:
    trigger = dash.ctx.triggered_id
    kind = {ids.CSV_TRADES: "trades", ids.CSV_METRICS: "metrics", ids.CSV_RETURNS: "returns"}.get(str(trigger),
                                                                                                   "equity")
    view = performance_view(_key(start), _key(end))
    if view is None:
        return no_update
    name, text = show.csv_text(view, kind)
    return {"content": spreadsheet_safe_csv(text), "filename": name, "type": "text/csv"}
