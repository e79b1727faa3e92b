"""The Performance page's figures, tables and CSV files, from a PerformanceView (no store access here)."""
from __future__ import annotations

import io
import json

import pandas as pd
import plotly.io as pio
from dash import html

from components.charts import LAYOUT
from components.metric_display import FREQUENCY_ROW, METRIC_ROWS, format_metric
from components.tables import column, small_table
from webapp.performance_data import PerformanceView

MARKET_AXIS = "market time (UTC)"
TEMPLATE = pio.templates[str(LAYOUT["template"])].to_plotly_json()
TRIP_COLUMNS = [column("exit_ts", "Exit (market time)"), column("symbol"), column("direction"), column("qty"),
                column("entry_ts", "Entry (market time)"), column("entry_price"), column("exit_price"),
                column("pnl", "P&L (net)"), column("commission"), column("return")]
TRIPS_SHOWN = 1_000
EQUITY_CSV_COLUMNS = ["ts", "equity", "cash", "gross_exposure", "min_equity", "max_equity", "snapshots",
                      "net_cash_flow", "flow_adjusted_equity"]
EQUITY_CSV_HELP = ("one row per sampled snapshot (the last of each interval): equity is the account's, net_cash_flow "
                   "the deposits (+) and withdrawals (-) the interval's snapshots first include (0 without any), "
                   "flow_adjusted_equity the equity with them left out (time-weighted: its changes are trading "
                   "returns only, the curve the return metrics and the drawdown chart use; in the latest "
                   "snapshot's money, so after the last flow it equals the equity)")
FLOW_MARKS = (("deposits", 1.0, "triangle-up", "#2e7d32", "top center"),
              ("withdrawals", -1.0, "triangle-down", "#c62828", "bottom center"))


def metrics_table(view: PerformanceView) -> html.Table:
    """Metric, value and its definition (also the row's tooltip), so every number says how it was made; the
    return frequency (the grid the returns were measured on) first, beside the factor they are annualised by."""
    shown = ((FREQUENCY_ROW,) if "return_frequency" in view.metrics else ()) + METRIC_ROWS
    rows = [html.Tr([html.Td(label), html.Td(format_metric(key, view.metrics.get(key)), className="text-end",
                                             id=f"performance-metric-{key.replace('_', '-')}"),
                     html.Td(view.definitions.get(key, ""), className="small text-muted")],
                    title=view.definitions.get(key, ""))
            for key, label in shown]
    return html.Table([html.Thead(html.Tr([html.Th("Metric"), html.Th("Value"), html.Th("Definition")])),
                       html.Tbody(rows)], className="table table-sm table-striped mb-0")


def regime_table(view: PerformanceView) -> object:
    per = view.metrics.get("per_regime") or {}
    assert isinstance(per, dict)
    rows = [[name, format_metric("time_share", v["time_share"]), format_metric("pnl", v["pnl"]),
             format_metric("return", v["return"]), v["trades"]]
            for name, v in sorted(per.items(), key=lambda kv: -(kv[1]["time_share"] or 0.0))]
    return small_table(["Regime", "Time share", "P&L", "Return", "Round trips"], rows,
                       f"no regime snapshots for {view.regime_symbol or 'the index'} in this range")


def trip_rows(view: PerformanceView) -> list[dict[str, object]]:
    """The newest round trips first, rounded for the grid."""
    t = view.trips.iloc[::-1].head(TRIPS_SHOWN)
    if t.empty:  # no closed round trip yet: its time columns are untyped, and there is nothing to show
        return []
    frame = pd.DataFrame({
        "exit_ts": t["exit_ts"].dt.strftime("%Y-%m-%d %H:%M"), "symbol": t["symbol"], "direction": t["direction"],
        "qty": t["qty"].round(6), "entry_ts": t["entry_ts"].dt.strftime("%Y-%m-%d %H:%M"),
        "entry_price": t["entry_price"].round(4), "exit_price": t["exit_price"].round(4), "pnl": t["pnl"].round(2),
        "commission": t["commission"].round(2), "return": (t["return"] * 100).map("{:+.2f}%".format)})
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]


def figure_layout(title: str, xaxis_title: str, height: int = 320) -> dict[str, object]:
    """The house layout (components/charts.py) as a plain dict: figures built as dicts skip plotly's validation,
    which costs more than the data of a 2,000-point chart."""
    return {**LAYOUT, "template": TEMPLATE, "height": height, "title": {"text": title},
            "xaxis": {"title": {"text": xaxis_title}}}


def time_labels(values: pd.Series) -> list[str]:
    """'2026-01-05 19:30:00' per timestamp; an empty range (no bars or fills yet) has an object column, no labels."""
    series = pd.Series(values)
    if series.empty:
        return []
    if not pd.api.types.is_datetime64_any_dtype(series):
        series = pd.to_datetime(series)
    return list(series.dt.strftime("%Y-%m-%d %H:%M:%S"))


def flow_traces(flows: pd.DataFrame) -> list[dict[str, object]]:
    """Deposits and withdrawals as markers labelled with their amounts, at the first snapshot whose equity includes
    them: the equity line's steps there are money moved, not P&L."""
    traces: list[dict[str, object]] = []
    for name, sign, symbol, colour, position in FLOW_MARKS:
        part = flows[flows["amount"] * sign > 0]
        if part.empty:
            continue
        amounts = [f"{a:+,.2f}" for a in part["amount"]]
        traces.append({"type": "scatter", "x": time_labels(part["ts"]), "y": part["equity"].round(2).tolist(),
                       "mode": "markers+text", "name": name, "text": amounts, "textposition": position,
                       "hovertext": [f"{name[:-1]} {a} ({k}): not P&L" for a, k in zip(amounts, part["kind"],
                                                                                       strict=True)],
                       "hoverinfo": "text+x", "marker": {"symbol": symbol, "size": 11, "color": colour}})
    return traces


def flow_note(view: PerformanceView) -> list[str]:
    """The page's footnote on the range's deposits and withdrawals: where they show and where they are left out."""
    if view.flows.empty:
        return []
    return [f"{len(view.flows):,} deposit(s)/withdrawal(s) in range, net {view.flows['amount'].sum():+,.2f}: marked "
            "on the equity chart (the real equity); the drawdown chart and the returns leave them out "
            "(time-weighted); the Equity CSV has them per row (net_cash_flow) and the flow_adjusted_equity"]


def equity_figure(view: PerformanceView) -> dict[str, object]:
    """The account's real equity (what the trader has), its running peak net of deposits and withdrawals, and
    each deposit and withdrawal marked with its amount."""
    c = view.chart
    x = time_labels(c["ts"])
    marked = "; deposits ▲ and withdrawals ▼ marked" if len(view.flows) else ""
    return {"data": [{"type": "scatter", "x": x, "y": c["equity"].tolist(), "mode": "lines", "name": "equity"},
                     {"type": "scatter", "x": x, "y": c["peak"].tolist(), "mode": "lines", "name": "running peak",
                      "line": {"dash": "dot"}}, *flow_traces(view.flows)],
            "layout": figure_layout(f"Equity ({view.span.rows:,} snapshots, {len(c):,} points shown{marked})",
                                    MARKET_AXIS)}


def drawdown_figure(view: PerformanceView) -> dict[str, object]:
    """On the flow-adjusted equity, as the max drawdown figure: a withdrawal is no drawdown."""
    c = view.chart
    return {"data": [{"type": "scatter", "x": time_labels(c["ts"]), "y": c["drawdown_pct"].round(4).tolist(),
                      "mode": "lines", "fill": "tozeroy", "name": "drawdown"}],
            "layout": figure_layout("Drawdown from the running peak (%), deepest point of each interval; deposits "
                                    "and withdrawals left out (time-weighted)", MARKET_AXIS, 220)}


def daily_figure(view: PerformanceView) -> dict[str, object]:
    """One bar per market day. The days are categories ('2026-01-06'), not times: a time axis gave a single
    day sub-second ticks ('23:59:59.9996 Jan 5')."""
    d = view.daily
    colours = ["#2e7d32" if v >= 0 else "#c62828" for v in d["pnl"]]
    days = [str(pd.Timestamp(day).date()) for day in d["day"]]
    layout = figure_layout("Daily P&L: last equity of each day minus the day before's (the first day: minus the "
                           "opening equity); days as the daily loss limit counts them", view.daily_label, 240)
    layout["xaxis"] = {"title": {"text": view.daily_label}, "type": "category", "categoryorder": "category ascending"}
    return {"data": [{"type": "bar", "x": days, "y": d["pnl"].round(2).tolist(),
                      "marker": {"color": colours}, "name": "daily P&L"}],
            "layout": layout}


def csv_text(view: PerformanceView, kind: str) -> tuple[str, str]:
    """(file name, CSV text) of the equity sample, the round trips, the metrics with their definitions, or the
    returns: the opening equity and each period's close on the regular grid, with the simple return of each period
    (the series the return metrics are computed from, to check them with another tool)."""
    buffer = io.StringIO()
    stamp = f"{view.span.first_ts:%Y%m%d}-{view.span.last_ts:%Y%m%d}"
    if kind == "trades":
        view.trips.to_csv(buffer, index=False)
        return f"regimedesk-round-trips-{stamp}.csv", buffer.getvalue()
    if kind == "metrics":
        rows = [(k, json.dumps(v) if isinstance(v, dict) else v, view.definitions.get(k, ""))
                for k, v in view.metrics.items()]
        pd.DataFrame(rows, columns=["metric", "value", "definition"]).to_csv(buffer, index=False)
        return f"regimedesk-metrics-{stamp}.csv", buffer.getvalue()
    if kind == "returns" and view.grid is not None and view.grid_equity is not None:
        closes = view.grid_equity
        pd.DataFrame({"ts": closes.index, "equity": closes.to_numpy(), "return": closes.pct_change().to_numpy()}).to_csv(
            buffer, index=False)
        return f"regimedesk-returns-{view.grid.kind}-{stamp}.csv", buffer.getvalue()
    view.sample.loc[:, EQUITY_CSV_COLUMNS].to_csv(buffer, index=False)  # EQUITY_CSV_HELP says what they are
    return f"regimedesk-equity-{stamp}.csv", buffer.getvalue()
