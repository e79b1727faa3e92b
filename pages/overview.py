"""Overview: account, prices, positions and the engine's pulse at a glance."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html, no_update

from components import formatting as fmt
from components.cards import kpi_card, status_badge
from components.chart_patch import CHART_BARS, chart_update
from components.charts import empty_figure, graph
from components.ids import overview as ids
from components.shell import page_header
from components.tables import small_table
from engine.auth.roles import Role
from engine.health.checks import worst
from engine.market.data_age import data_age_s, recorded_bar_s, wall_clock_calendar
from engine.settings import BrokerName
from engine.store.keyvalue import MARKET_DATA_KEY
from engine.store.models import KeyValue
from engine.trading.risk_limits import active_limits
from webapp import queries
from webapp.auth.access import requires
from webapp.context import get_context
from webapp.live_cache import live_query

dash.register_page(__name__, path="/", name="Overview", order=0)

REFRESH_MS = 2000
STALE_ROW = "table-warning"  # a row whose price is older than the stale-data limit
PRICES_HEADER = ["Symbol", "Last", "Change", "As of (UTC)"]
POSITIONS_HEADER = ["Symbol", "Qty", "Avg price", "Last", "Unrealized", "As of (UTC)"]


def layout(**_kwargs: object) -> html.Div:
    return html.Div([
        page_header("Overview", "Live account, market and engine status from the store"),
        dcc.Interval(id=ids.INTERVAL, interval=REFRESH_MS),
        dcc.Store(id=ids.CHART_SHOWN),  # what this tab's chart holds, so a refresh sends only new bars
        dcc.Store(id=ids.BOOK_SHOWN),  # fingerprint of the positions and orders this tab shows
        dbc.Row([
            dbc.Col(kpi_card("Equity", ids.EQUITY, ids.EQUITY_SUB), md=3),
            dbc.Col(kpi_card("Cash", ids.CASH, ids.BUYING_POWER), md=3),
            dbc.Col(kpi_card("Gross exposure", ids.EXPOSURE, ids.POSITIONS_COUNT), md=3),
            dbc.Col(kpi_card("Engine", ids.ENGINE, ids.ENGINE_SUB), md=3),
        ], className="g-2 mb-2"),
        dbc.Row([
            dbc.Col(graph(ids.INDEX_CHART, empty_figure("waiting for bars…")), md=8),
            dbc.Col([html.H6("Prices (change over 60 bars)"), html.Div(id=ids.PRICES)], md=4),
        ], className="g-2"),
        dbc.Row([
            dbc.Col([html.H6("Positions"), html.Div(id=ids.POSITIONS)], md=6),
            dbc.Col([html.H6("Recent orders"), html.Div(id=ids.ORDERS)], md=6),
        ], className="g-2 mt-2"),
    ])


@dash.callback(
    Output(ids.EQUITY, "children"), Output(ids.EQUITY_SUB, "children"),
    Output(ids.CASH, "children"), Output(ids.BUYING_POWER, "children"),
    Output(ids.EXPOSURE, "children"), Output(ids.POSITIONS_COUNT, "children"),
    Input(ids.INTERVAL, "n_intervals"),
)
@requires(Role.VIEWER)
def refresh_account(_n: int | None):
    account = queries.latest_account()
    if account is None:
        return "—", "no account snapshot yet", "—", "", "—", ""
    age = max((queries.market_now() - account["ts"]).total_seconds(), 0.0)  # snapshots carry market time
    # next to the heartbeat's wall-clock age: an accelerated simulated market's minute passes in a wall second
    clock = "" if get_context().settings.market_source == "alpaca" else " (market clock)"
    return (fmt.money(account["equity"]), f"{account['broker']} · as of {fmt.age(age)} ago{clock}",
            fmt.money(account["cash"]), f"buying power {fmt.money(account['buying_power'], 0)}",
            fmt.money(account["gross_exposure"], 0), f"{len(queries.positions())} open positions")


@dash.callback(
    Output(ids.ENGINE, "children"), Output(ids.ENGINE_SUB, "children"),
    Input(ids.INTERVAL, "n_intervals"),
)
@requires(Role.VIEWER)
def refresh_engine(_n: int | None):
    live = queries.liveness()  # the banner's answer too (webapp/deadman.py), cached for every tab
    if not live.live:
        return status_badge("unhealthy"), live.summary()
    age = live.beat_age_s or 0.0
    stats = queries.job_stats()
    statuses = ["healthy" if age < 10 else "degraded" if age < 30 else "unhealthy"]
    statuses += ["degraded" for s in stats if s["last_outcome"] == "error"]
    market = next((s for s in stats if s["job"] == "market"), None)
    tick = f" · market tick {market['median_ms']:.1f} ms median" if market else ""
    return status_badge(worst(statuses)), f"heartbeat {fmt.age(age)} ago{tick}"


@dash.callback(
    Output(ids.INDEX_CHART, "figure"), Output(ids.PRICES, "children"),
    Output(ids.CHART_SHOWN, "data"),
    Input(ids.INTERVAL, "n_intervals"), State(ids.CHART_SHOWN, "data"),
)
@requires(Role.VIEWER)
def refresh_market(_n: int | None, shown: dict | None):
    shown = shown if isinstance(shown, dict) else None  # the tab's own store; anything else: start afresh
    symbol = queries.index_symbol()
    prices = queries.latest_prices()
    if symbol is None or not prices:
        return no_update, html.Div("no bars stored yet", className="text-muted small"), no_update
    figure, now_shown = chart_update(queries.chart_series(symbol, CHART_BARS), symbol, shown,
                                     lambda: queries.chart_figure(symbol, CHART_BARS))
    rows, table_key = prices_view()
    table = no_update if (shown or {}).get("prices") == table_key else \
        _rendered(table_key, lambda: priced_table(PRICES_HEADER, rows, "no prices"))
    now_shown = {**(now_shown or {}), "prices": table_key}
    return figure, table, (no_update if now_shown == shown else now_shown)


@dash.callback(
    Output(ids.POSITIONS, "children"), Output(ids.ORDERS, "children"),
    Output(ids.BOOK_SHOWN, "data"),
    Input(ids.INTERVAL, "n_intervals"), State(ids.BOOK_SHOWN, "data"),
)
@requires(Role.VIEWER)
def refresh_book(_n: int | None, shown: str | None):
    positions, orders, key = book_view()
    if key == shown:  # nothing moved since this tab's last refresh
        return no_update, no_update, no_update
    tables = _rendered(key, lambda: (
        priced_table(POSITIONS_HEADER, positions, "no open positions"),
        small_table(["Created", "Symbol", "Side", "Qty", "Status", "Origin"], orders, "no orders yet")))
    return (*tables, key)


# ---- views shared by every tab: formatted once per cache period, rendered once per content ----------------
@live_query()
def prices_view() -> tuple[list[tuple[Any, ...]], str]:
    """The prices table's rows (each ending in its price's time and whether that is stale) and their fingerprint."""
    now, limit_s, bar_s = queries.market_now(), stale_limit_s(), wall_clock_bar_s()
    rows = [(p["symbol"], fmt.number(p["last"]), fmt.pct(p["change_pct"]), *as_of(p["ts"], now, limit_s, bar_s))
            for p in queries.latest_prices()]
    return rows, queries.fingerprint(rows)


@live_query()
def book_view() -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], str]:
    """The positions and recent orders rows and their fingerprint."""
    now, limit_s, bar_s = queries.market_now(), stale_limit_s(), wall_clock_bar_s()
    report_s = None if bar_s is None else 0.0  # a position's price time is a report time, not a bar's open
    closes = {p["symbol"]: p["ts"] for p in queries.latest_prices()}
    paper = get_context().settings.broker == BrokerName.PAPER
    positions = [(p["symbol"], fmt.number(p["qty"], 0), fmt.number(p["avg_entry_price"]),
                  fmt.number(p["market_price"]), fmt.money(p["unrealized_pnl"]),
                  *as_of(position_price_time(p, closes.get(p["symbol"]), paper), now, limit_s, report_s))
                 for p in queries.positions()]
    orders = [(fmt.timestamp(o["created_at"]), o["symbol"], o["side"], fmt.number(o["qty"], 0), o["status"], o["origin"])
              for o in queries.orders(12)]
    return positions, orders, queries.fingerprint((positions, orders))


def stale_limit_s() -> float:
    """The active parameter version's stale-data limit (seconds): the age at which the gateway refuses new
    exposure for stale data, so a price the Overview calls current is one the engine trades on."""
    return float(active_limits(get_context().store).stale_data_seconds)


def wall_clock_bar_s() -> float | None:
    """The bar length when the market source's bar times are wall-clock times (the market job records it for
    Alpaca), else None (the simulated and CSV sources: their prices keep today's plain age)."""
    ctx = get_context()
    with ctx.store.read() as session:
        row = session.get(KeyValue, MARKET_DATA_KEY)
        return recorded_bar_s(row.value if row is not None else None, ctx.settings)


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


def as_of(ts: datetime | None, now: datetime, limit_s: float, bar_s: float | None = None) -> tuple[str, bool]:
    """A price's time as shown and whether it is older than the limit (both on the market clock); unknown: '—'.
    With `bar_s` (a wall-clock source) the price dates from `ts + bar_s` and is aged within the exchange's sessions
    (engine/market/data_age.py): at night and on weekends the last session's final prices are current."""
    if ts is None:
        return "—", False
    ts = _aware(ts)
    if bar_s is None:
        return ts.strftime("%Y-%m-%d %H:%M"), (now - ts).total_seconds() > limit_s
    age = data_age_s(wall_clock_calendar(), now, ts + timedelta(seconds=bar_s))
    return ts.strftime("%Y-%m-%d %H:%M"), age > limit_s


def position_price_time(p: dict[str, Any], close_ts: datetime | None, paper: bool) -> datetime | None:
    """When a position's market price was set: when the broker reported it; the paper broker marks to the last
    stored close, so its price is no newer than that close's bar (a position synced now of a symbol whose bars
    stopped two days ago carries a two-day-old price)."""
    if p.get("market_price") is None:
        return None
    at = _aware(p["updated_at"]) if p.get("updated_at") is not None else None
    if paper and close_ts is not None:
        at = min(at, _aware(close_ts)) if at is not None else _aware(close_ts)
    return at


def priced_table(header: Sequence[str], rows: Sequence[Sequence[Any]], empty: str) -> Any:
    """A table of rows that end in (price time, stale): a stale row is tinted and its time carries a 'stale' badge."""
    cells = [(*row[:-2], _time_cell(row[-2], row[-1])) for row in rows]
    return small_table(header, cells, empty, [STALE_ROW if row[-1] else "" for row in rows])


def _time_cell(when: str, stale: bool) -> Any:
    if not stale:
        return when
    return html.Span([when, dbc.Badge("stale", color="warning", text_color="dark", className="ms-1")],
                     title="older than the stale-data limit (TradingRisk stale_data_seconds): not a current price")


_RENDERED: dict[str, Any] = {}  # per process: components of the last few contents (keyed by their fingerprint)


def _rendered(key: str, build: Callable[[], Any]) -> Any:
    """The components for content `key`, built once: every tab that needs the same content gets the same
    (read-only) components instead of building and formatting them again."""
    hit = _RENDERED.get(key)
    if hit is None:
        hit = build()
        if len(_RENDERED) >= 16:
            _RENDERED.clear()
        _RENDERED[key] = hit
    return hit
