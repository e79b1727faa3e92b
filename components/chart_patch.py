"""Candle chart updates that send only what changed (the Overview's interval refresh).

A tab remembers what its chart holds (symbol, bar count, newest bar) in a dcc.Store; each refresh
returns a dash.Patch that appends the bars stored since, drops the oldest and corrects a revised
last bar, or no_update when nothing moved, instead of rebuilding and resending the whole figure.
The bars arrive as plain lists (`series_of`), which the web caches once for every tab and worker.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
from dash import Patch, no_update

from components.charts import price_figure

CHART_BARS = 240
PATCH_MAX_NEW = 60  # more new bars than this since the last refresh: send the whole figure again
OHLC = ("open", "high", "low", "close")


def _x(t) -> str:
    """A bar's time as plotly.py sends a datetime column: ISO without offset (UTC)."""
    t = pd.Timestamp(t)
    return (t.tz_convert("UTC").tz_localize(None) if t.tzinfo is not None else t).isoformat()


def series_of(frame: pd.DataFrame) -> dict[str, list[Any]]:
    """An OHLC frame as plain JSON lists: x (ISO times) and open/high/low/close floats."""
    return {"x": [_x(t) for t in frame["timestamp"]], **{k: [float(v) for v in frame[k]] for k in OHLC}}


def full_figure(series: dict[str, list[Any]], title: str) -> dict[str, Any]:
    """The candle figure as a dict with plain JSON lists: plotly would send numeric columns as typed
    arrays (base64 `bdata`), which a Patch cannot extend in the browser."""
    frame = pd.DataFrame({"timestamp": series["x"], **{k: series[k] for k in OHLC}})
    fig = price_figure(frame, title).to_dict()
    fig["data"][0].update(x=list(series["x"]), **{k: list(series[k]) for k in OHLC})
    return fig


def _bar(series: dict[str, list[Any]], i: int) -> list[float]:
    return [series[k][i] for k in OHLC]


def _valid(shown: Any) -> dict | None:
    """What a tab says its chart holds, when well formed (a forged or stale store means: send it whole)."""
    if not isinstance(shown, dict):
        return None
    count, last_ts, last_bar = shown.get("count"), shown.get("last_ts"), shown.get("last_bar")
    if not isinstance(shown.get("symbol"), str) or not isinstance(last_ts, str) or isinstance(count, bool) \
            or not isinstance(count, int) or not 0 < count <= CHART_BARS or not isinstance(last_bar, list):
        return None
    return shown


def chart_update(series: dict[str, list[Any]], symbol: str, shown: dict | None,
                 figure: Callable[[], dict[str, Any]] | None = None):
    """(figure or Patch or no_update, what the chart then shows) for the stored bars `series` of `symbol`.

    A tab that already shows this symbol's candles gets only the bars stored since (appended, the
    oldest dropped so the chart keeps CHART_BARS) and a corrected last bar; nothing when nothing moved.
    `figure` builds the whole figure when one is needed (default: from `series`; the page passes a
    cached one)."""
    shown = _valid(shown)
    count_now = len(series["x"])
    title = f"{symbol} · last {count_now} bars"
    if not count_now:
        return no_update, shown
    now_shown = {"symbol": symbol, "count": count_now, "last_ts": series["x"][-1],
                 "last_bar": _bar(series, count_now - 1)}

    def whole():
        fig = (figure or (lambda: full_figure(series, title)))()
        trace = fig["data"][0]  # what the tab will hold is what this figure holds (a cached one may be older)
        return fig, {"symbol": symbol, "count": len(trace["x"]), "last_ts": trace["x"][-1],
                     "last_bar": [trace[k][-1] for k in OHLC]}

    if not shown or shown["symbol"] != symbol:
        return whole()
    at = next((i for i in range(count_now - 1, -1, -1) if series["x"][i] == shown["last_ts"]), None)
    if at is None:  # the tab is further behind than the stored window: start again
        return whole()
    new = count_now - 1 - at
    changed_last = _bar(series, at) != shown.get("last_bar")
    if not new and not changed_last:
        return no_update, shown
    if new > PATCH_MAX_NEW:
        return whole()
    patch = Patch()
    trace = patch["data"][0]
    count = shown["count"]
    if changed_last and count:
        for key, value in zip(OHLC, _bar(series, at), strict=True):
            trace[key][count - 1] = value
    if new:
        trace["x"].extend(series["x"][at + 1:])
        for key in OHLC:
            trace[key].extend(series[key][at + 1:])
        for _ in range(max(0, count + new - CHART_BARS)):
            for key in ("x", *OHLC):
                del trace[key][0]
        patch["layout"]["title"]["text"] = title
        trace["name"] = title
    return patch, {**now_shown, "count": min(CHART_BARS, count + new)}
