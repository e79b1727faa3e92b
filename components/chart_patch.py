"""Candle chart updates that send only what changed (the Overview's interval refresh).

A tab remembers what its chart holds (symbol, bar count, newest bar) in a dcc.Store; each refresh
returns a dash.Patch that appends the bars stored since, drops the oldest and corrects a revised
last bar, or no_update when nothing moved, instead of rebuilding and resending the whole figure.
"""
from __future__ import annotations

import pandas as pd
from dash import Patch, no_update

from components.charts import price_figure

CHART_BARS = 240
PATCH_MAX_NEW = 60  # more new bars than this since the last refresh: send the whole figure again


def _x(t) -> str:  # type: ignore[no-untyped-def]
    """A bar's time as plotly.py sends a datetime column: ISO without offset (UTC)."""
    t = pd.Timestamp(t)
    return (t.tz_convert("UTC").tz_localize(None) if t.tzinfo is not None else t).isoformat()


def full_figure(frame, title: str) -> dict:  # type: ignore[no-untyped-def]
    """The candle figure as a dict with plain JSON lists: plotly would send numeric columns as typed
    arrays (base64 `bdata`), which a Patch cannot extend in the browser."""
    fig = price_figure(frame, title).to_dict()
    fig["data"][0].update(x=[_x(t) for t in frame["timestamp"]],
                          **{k: [float(v) for v in frame[k]] for k in ("open", "high", "low", "close")})
    return fig


def _bar(frame, i: int) -> list[float]:  # type: ignore[no-untyped-def]
    return [float(frame["open"].iat[i]), float(frame["high"].iat[i]), float(frame["low"].iat[i]),
            float(frame["close"].iat[i])]


def chart_update(frame, symbol: str, shown: dict | None):  # type: ignore[no-untyped-def]
    """(figure or Patch or no_update, what the chart then shows) for the stored `frame` of `symbol`.

    A tab that already shows this symbol's candles gets only the bars stored since (appended, the
    oldest dropped so the chart keeps CHART_BARS) and a corrected last bar; nothing when nothing moved."""
    title = f"{symbol} · last {len(frame)} bars"
    if not len(frame):
        return no_update, shown
    last_ts = _x(frame["timestamp"].iat[-1])
    now_shown = {"symbol": symbol, "count": len(frame), "last_ts": last_ts, "last_bar": _bar(frame, len(frame) - 1)}
    if not shown or shown.get("symbol") != symbol or not shown.get("last_ts"):
        return full_figure(frame, title), now_shown
    stamps = [_x(t) for t in frame["timestamp"]]
    if shown["last_ts"] not in stamps:  # the tab is further behind than the stored window: start again
        return full_figure(frame, title), now_shown
    at = stamps.index(shown["last_ts"])
    new = frame.iloc[at + 1:]
    changed_last = _bar(frame, at) != shown.get("last_bar")
    if not len(new) and not changed_last:
        return no_update, shown
    if len(new) > PATCH_MAX_NEW:
        return full_figure(frame, title), now_shown
    patch = Patch()
    trace = patch["data"][0]
    count = int(shown.get("count") or 0)
    if changed_last and count:
        for key, value in zip(("open", "high", "low", "close"), _bar(frame, at), strict=True):
            trace[key][count - 1] = value
    if len(new):
        trace["x"].extend([_x(t) for t in new["timestamp"]])
        for key in ("open", "high", "low", "close"):
            trace[key].extend([float(v) for v in new[key]])
        drop = max(0, count + len(new) - CHART_BARS)
        for _ in range(drop):
            for key in ("x", "open", "high", "low", "close"):
                del trace[key][0]
        patch["layout"]["title"]["text"] = title
        patch["data"][0]["name"] = title
    return patch, {**now_shown, "count": min(CHART_BARS, count + len(new))}
