"""Figures and tables of the Backtest page (no data access): equity against buy-and-hold, drawdown,
a symbol's price with regime bands and its fills, metrics with their definitions, P&L per regime."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dash_bootstrap_components as dbc
import pandas as pd
import plotly.graph_objects as go
from dash import html

from components.charts import LAYOUT, empty_figure
from components.ids import backtest as ids
from components.metric_display import FREQUENCY_ROW, METRIC_ROWS, format_metric, metric_words

if TYPE_CHECKING:
    from engine.market.exchange import MarketCalendar

# What an empty panel will show, until a run is open (a blank panel with a toolbar looks broken)
WAITING = {"drawdown": "drawdown from the peak: open or run a backtest",
           "price": "a symbol's price with regime bands and fills: open a run, then choose a symbol",
           "daily": "P&L per market day: open or run a backtest"}
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


@dataclass(frozen=True)
class RunView:
    """What the figures need of one stored run."""

    label: str
    equity: pd.DataFrame  # timestamp, equity, cash, gross_exposure, regime_name
    fills: pd.DataFrame  # ts, client_order_id, symbol, side, qty, price, commission
    prices: pd.DataFrame  # timestamp, one close column per symbol
    index_symbol: str
    metrics: Mapping[str, Any]
    calendar: MarketCalendar | None = None  # the market's days (its session days with an exchange); None: UTC days


def equity_figure(views: Sequence[RunView]) -> go.Figure:
    """Each run's equity and buy-and-hold of its index from the same starting cash."""
    if not views or all(v.equity.empty for v in views):
        return empty_figure("no equity yet")
    fig = go.Figure()
    for i, v in enumerate(views):
        colour = PALETTE[i % len(PALETTE)]
        fig.add_trace(go.Scatter(x=v.equity["timestamp"], y=v.equity["equity"], name=f"{v.label}", mode="lines",
                                 line={"color": colour}))
        closes = v.prices.set_index("timestamp")[v.index_symbol].reindex(v.equity["timestamp"]).ffill()
        if len(closes) and closes.iloc[0] > 0:
            hold = float(v.equity["equity"].iloc[0]) * closes / closes.iloc[0]
            fig.add_trace(go.Scatter(x=v.equity["timestamp"], y=hold.to_numpy(), mode="lines",
                                     name=f"buy & hold {v.index_symbol} ({v.label})",
                                     line={"color": colour, "dash": "dot"}))
    fig.update_layout(title="Equity against buy-and-hold of the index", **LAYOUT)
    return fig


def drawdown_figure(views: Sequence[RunView]) -> go.Figure:
    if not views or all(v.equity.empty for v in views):
        return empty_figure("no equity yet")
    fig = go.Figure()
    for i, v in enumerate(views):
        eq = v.equity["equity"].astype(float)
        fig.add_trace(go.Scatter(x=v.equity["timestamp"], y=(eq / eq.cummax() - 1.0) * 100, mode="lines",
                                 name=v.label, fill="tozeroy", line={"color": PALETTE[i % len(PALETTE)]}))
    fig.update_layout(title="Drawdown from peak (%)", **{**LAYOUT, "height": 240})
    return fig


def regime_bands(equity: pd.DataFrame, colours: Mapping[str, str]) -> list[dict[str, Any]]:
    """Consecutive bars of one regime as one band (x0 = first bar, x1 = the next regime's first bar)."""
    names = [n if isinstance(n, str) and n else None for n in equity["regime_name"].tolist()]
    times = equity["timestamp"].tolist()
    bands, start = [], 0
    for i in range(1, len(names) + 1):
        if i == len(names) or names[i] != names[start]:
            if names[start]:
                x1 = times[i] if i < len(times) else times[-1]
                bands.append({"x0": times[start], "x1": x1, "name": names[start],
                              "color": colours.get(str(names[start]), "#999999")})
            start = i
    return bands


def price_figure(view: RunView, symbol: str, colours: Mapping[str, str],
                 roles: Sequence[str] = ()) -> go.Figure:
    """The symbol's close with the index's regime as bands and the run's fills, sized by quantity; `roles`
    (entry / exit / exit+entry per fill of the symbol, in time order) outline the exits."""
    if symbol not in view.prices.columns:
        return empty_figure(f"no prices of {symbol} in this run")
    fig = go.Figure(go.Scatter(x=view.prices["timestamp"], y=view.prices[symbol], mode="lines", name=symbol,
                               line={"color": "#444"}))
    for band in regime_bands(view.equity, colours):
        fig.add_vrect(x0=band["x0"], x1=band["x1"], fillcolor=band["color"], opacity=0.15, line_width=0,
                      layer="below")
    mine = view.fills[view.fills["symbol"] == symbol].reset_index(drop=True)
    roles = list(roles) if len(roles) == len(mine) else ["entry"] * len(mine)
    biggest = float(mine["qty"].astype(float).max()) if len(mine) else 1.0
    for side, marker, colour in (("buy", "triangle-up", "#2ca02c"), ("sell", "triangle-down", "#d62728")):
        mask = (mine["side"] == side).to_numpy()
        f = mine[mask]
        if len(f):
            role = [r for r, m in zip(roles, mask, strict=True) if m]
            size = (8 + 14 * (f["qty"].astype(float) / biggest) ** 0.5).round(1).tolist()
            fig.add_trace(go.Scatter(x=f["ts"], y=f["price"], mode="markers", name=f"{side}s",
                                     marker={"symbol": marker, "size": size, "color": colour,
                                             "line": {"width": [0 if r == "entry" else 2 for r in role],
                                                      "color": "#000"}},
                                     text=[f"{r} {side} {q:g} @ {p:.2f}" for r, q, p in
                                           zip(role, f["qty"], f["price"], strict=True)],
                                     hoverinfo="text+x"))
    fig.update_layout(title=f"{symbol}: price, regime of {view.index_symbol} (bands) and fills", **LAYOUT)
    return fig


def daily_pnl(equity: pd.DataFrame, calendar: MarketCalendar | None = None) -> pd.Series:
    """Equity change per market day, indexed by 'YYYY-MM-DD': the day's last equity against the day before's,
    the first day against the run's starting equity (so the days add up to the run's P&L). The days are
    ``calendar.session_days`` (the risk engine's trading day: after-hours and weekends count for their session),
    UTC days without a calendar."""
    if equity.empty:
        return pd.Series(dtype=float)
    times = pd.Series(pd.to_datetime(equity["timestamp"], utc=True))
    days = calendar.session_days(times) if calendar is not None else times.dt.strftime("%Y-%m-%d")
    daily = equity["equity"].astype(float).groupby(days.to_numpy(), sort=False).last().dropna()
    pnl = daily.diff().fillna(daily.iloc[0] - float(equity["equity"].iloc[0]))
    return pd.Series(pnl.to_numpy(), index=pd.Index([str(d) for d in daily.index]))


def day_axis_title(views: Sequence[RunView]) -> str:
    """What a bar's day is: the runs' session days (exchange) or market timezone's days, else UTC days."""
    calendars = {v.calendar for v in views}
    calendar = calendars.pop() if len(calendars) == 1 else None
    if calendar is None:
        return "market day (UTC)"
    return f"session day ({calendar.label})" if calendar.exchange else f"market day ({calendar.timezone})"


def daily_pnl_figure(views: Sequence[RunView]) -> go.Figure:
    """One bar per market day and run. The days are categories (date strings in date order), not times: a
    time axis gave a one-day run sub-second ticks and stretched a bar over the gap between runs' days."""
    if not views or all(v.equity.empty for v in views):
        return empty_figure("no equity yet")
    fig = go.Figure()
    for i, v in enumerate(views):
        pnl = daily_pnl(v.equity, v.calendar)
        fig.add_trace(go.Bar(x=pnl.index.tolist(), y=pnl.to_numpy(), name=v.label,
                             marker_color=PALETTE[i % len(PALETTE)]))
    fig.update_layout(title="P&L per day", barmode="group", **{**LAYOUT, "height": 240})
    fig.update_xaxes(type="category", categoryorder="category ascending", title_text=day_axis_title(views))
    return fig


def definition(key: str, views: Sequence[RunView], definitions: Mapping[str, str],
               per_run: Sequence[Mapping[str, str]] = ()) -> Any:
    """The definition of `key`; when the runs define it differently (`per_run`, one mapping per view: a minute-bar
    run is annualised otherwise than a daily one), each run's, named by the run, so none is shown beside another's."""
    texts = [d.get(key, "") for d in per_run] if len(per_run) == len(views) else []
    if len(set(texts)) <= 1:
        return definitions.get(key, "")
    return [html.Div(f"{v.label}: {text}") for v, text in zip(views, texts, strict=True)]


def metrics_table(views: Sequence[RunView], definitions: Mapping[str, str],
                  per_run: Sequence[Mapping[str, str]] = ()) -> dbc.Table:
    """One row per metric, one column per run, the definition beside it (each run's, where they differ)."""
    head = html.Thead(html.Tr([html.Th("Metric"), *[html.Th(v.label) for v in views], html.Th("Definition")]))
    rows = []
    for key, label in (FREQUENCY_ROW, *METRIC_ROWS):
        if not any(key in v.metrics for v in views):
            continue
        rows.append(html.Tr([html.Td(label), *[html.Td(format_metric(key, v.metrics.get(key)), className="text-end")
                                               for v in views],
                             html.Td(definition(key, views, definitions, per_run), className="small text-muted")]))
    return dbc.Table([head, html.Tbody(rows)], size="sm", striped=True, className="mb-0", id=ids.METRICS_TABLE)


def regime_table(views: Sequence[RunView], definitions: Mapping[str, str],
                 per_run: Sequence[Mapping[str, str]] = ()) -> html.Div:
    rows = []
    for v in views:
        for name, m in sorted((v.metrics.get("per_regime") or {}).items()):
            rows.append(html.Tr([html.Td(v.label), html.Td(name), html.Td(format_metric("time_share", m.get("time_share"))),
                                 html.Td(format_metric("pnl", m.get("pnl"))), html.Td(format_metric("return", m.get("return"))),
                                 html.Td(str(m.get("trades", 0)))]))
    if not rows:
        return html.Div("no regime was classified in this run", className="text-muted small")
    head = html.Thead(html.Tr([html.Th(h) for h in ("Run", "Regime", "Time share", "P&L", "Return", "Trades")]))
    notes = []
    for key in (k for k in definitions if k.startswith("per_regime.")):
        text = definition(key, views, definitions, per_run)
        words = f"{metric_words(key.split('.', 1)[1])}: "
        notes.append(html.Li(words + text if isinstance(text, str) else [words, *text]))
    return html.Div([dbc.Table([head, html.Tbody(rows)], size="sm", striped=True, id=ids.REGIME_TABLE),
                     html.Ul(notes, className="small text-muted")])


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = frame.copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.DatetimeTZDtype):
            out[col] = out[col].dt.strftime("%Y-%m-%d %H:%M")
    return [{str(k): v for k, v in row.items()} for row in out.astype(object).where(out.notna(), None).to_dict("records")]
