"""The Performance page's figures, tables and CSV files, from a PerformanceView (no store access here)."""
from __future__ import annotations

import io
import json

import pandas as pd
import plotly.graph_objects as go
from dash import html

from components.charts import LAYOUT
from components.tables import small_table
from webapp.performance_data import PerformanceView

MARKET_AXIS = "market time (UTC)"
PERCENT = {"total_return", "cagr", "volatility", "max_drawdown", "win_rate", "exposure", "avg_gross_exposure",
           "time_share", "return"}
RATIO = {"sharpe", "sortino", "calmar", "profit_factor", "turnover"}
MONEY = {"avg_win", "avg_loss", "commission", "pnl"}
METRIC_ROWS = [
    ("total_return", "Total return"), ("cagr", "CAGR"), ("volatility", "Volatility (annualised)"),
    ("sharpe", "Sharpe"), ("sortino", "Sortino"), ("calmar", "Calmar"), ("max_drawdown", "Max drawdown"),
    ("max_drawdown_duration", "Max drawdown duration (bars)"), ("max_drawdown_duration_days", "… in days"),
    ("win_rate", "Win rate"), ("profit_factor", "Profit factor"), ("avg_win", "Average win"),
    ("avg_loss", "Average loss"), ("exposure", "Time invested"), ("avg_gross_exposure", "Average gross exposure"),
    ("turnover", "Turnover"), ("trades", "Round trips"), ("fills", "Fills"), ("commission", "Commission paid"),
    ("periods_per_year", "Return periods a year"), ("risk_free", "Risk-free rate (annual)"),
]
TRIP_COLUMNS = [{"field": "exit_ts", "headerName": "exit (market time)"}, {"field": "symbol"},
                {"field": "direction"}, {"field": "qty"}, {"field": "entry_ts", "headerName": "entry (market time)"},
                {"field": "entry_price"}, {"field": "exit_price"}, {"field": "pnl", "headerName": "P&L (net)"},
                {"field": "commission"}, {"field": "return"}]
TRIPS_SHOWN = 1_000


def format_value(key: str, value: object) -> str:
    """A metric for a person: percentages, ratios, money, counts; '—' when undefined."""
    if value is None:
        return "—"
    if not isinstance(value, int | float):
        return str(value)
    if key in PERCENT or key == "risk_free":
        return f"{value * 100:+.2f}%" if key not in {"time_share", "win_rate", "exposure", "avg_gross_exposure",
                                                     "risk_free"} else f"{value * 100:.2f}%"
    if key in RATIO:
        return f"{value:,.2f}"
    if key in MONEY:
        return f"${value:,.2f}"
    if key == "max_drawdown_duration_days":
        return f"{value:,.1f}"
    return f"{value:,.0f}"


def metrics_table(view: PerformanceView) -> html.Table:
    """Metric, value and its definition (also the row's tooltip), so every number says how it was made."""
    rows = [html.Tr([html.Td(label), html.Td(format_value(key, view.metrics.get(key)), className="text-end",
                                             id=f"performance-metric-{key.replace('_', '-')}"),
                     html.Td(view.definitions.get(key, ""), className="small text-muted")],
                    title=view.definitions.get(key, ""))
            for key, label in METRIC_ROWS]
    return html.Table([html.Thead(html.Tr([html.Th("Metric"), html.Th("Value"), html.Th("Definition")])),
                       html.Tbody(rows)], className="table table-sm table-striped mb-0")


def regime_table(view: PerformanceView) -> object:
    per = view.metrics.get("per_regime") or {}
    assert isinstance(per, dict)
    rows = [[name, format_value("time_share", v["time_share"]), format_value("pnl", v["pnl"]),
             format_value("return", v["return"]), v["trades"]]
            for name, v in sorted(per.items(), key=lambda kv: -(kv[1]["time_share"] or 0.0))]
    return small_table(["Regime", "Time share", "P&L", "Return", "Round trips"], rows,
                       f"no regime snapshots for {view.regime_symbol or 'the index'} in this range")


def trip_rows(view: PerformanceView) -> list[dict[str, object]]:
    """The newest round trips first, rounded for the grid."""
    rows = []
    for t in view.trips.iloc[::-1].head(TRIPS_SHOWN).to_dict("records"):
        rows.append({"exit_ts": f"{t['exit_ts']:%Y-%m-%d %H:%M}", "symbol": t["symbol"], "direction": t["direction"],
                     "qty": round(float(t["qty"]), 6), "entry_ts": f"{t['entry_ts']:%Y-%m-%d %H:%M}",
                     "entry_price": round(float(t["entry_price"]), 4), "exit_price": round(float(t["exit_price"]), 4),
                     "pnl": round(float(t["pnl"]), 2), "commission": round(float(t["commission"]), 2),
                     "return": f"{float(t['return']) * 100:+.2f}%"})
    return rows


def equity_figure(view: PerformanceView) -> go.Figure:
    c = view.chart
    fig = go.Figure([go.Scatter(x=c["ts"], y=c["equity"], mode="lines", name="equity"),
                     go.Scatter(x=c["ts"], y=c["peak"], mode="lines", name="running peak", line={"dash": "dot"})])
    fig.update_layout(title=f"Equity ({view.span.rows:,} snapshots, {len(c):,} points shown)",
                      xaxis_title=MARKET_AXIS, **LAYOUT)
    return fig


def drawdown_figure(view: PerformanceView) -> go.Figure:
    c = view.chart
    fig = go.Figure(go.Scatter(x=c["ts"], y=c["drawdown_pct"], mode="lines", fill="tozeroy", name="drawdown"))
    fig.update_layout(title="Drawdown from the running peak (%), deepest point of each interval",
                      xaxis_title=MARKET_AXIS, **{**LAYOUT, "height": 220})
    return fig


def daily_figure(view: PerformanceView) -> go.Figure:
    d = view.daily
    colours = ["#2e7d32" if v >= 0 else "#c62828" for v in d["pnl"]]
    fig = go.Figure(go.Bar(x=d["day"], y=d["pnl"], marker_color=colours, name="daily P&L"))
    fig.update_layout(title="Daily P&L (last equity of the UTC day minus the day before's)",
                      xaxis_title="market day", **{**LAYOUT, "height": 240})
    return fig


def csv_text(view: PerformanceView, kind: str) -> tuple[str, str]:
    """(file name, CSV text) of the equity sample, the round trips, or the metrics with their definitions."""
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
    view.sample.loc[:, ["ts", "equity", "cash", "gross_exposure", "min_equity", "max_equity", "snapshots"]].to_csv(
        buffer, index=False)
    return f"regimedesk-equity-{stamp}.csv", buffer.getvalue()
