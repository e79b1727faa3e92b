"""The Overview candle chart sends only what changed: a Patch that, applied like the browser applies
it, gives the same candles as a figure built afresh from the stored bars; nothing when nothing moved."""
from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import plotly.io as pio
from dash import Patch, no_update

from components.chart_patch import CHART_BARS, series_of
from components.chart_patch import chart_update as _update
from components.charts import price_figure


def _frame(start: int, count: int, bump_last: float = 0.0) -> pd.DataFrame:
    t0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
    idx = np.arange(start, start + count)
    close = 100 + np.sin(idx / 7.0) * 3
    frame = pd.DataFrame({"timestamp": [t0 + timedelta(minutes=int(i)) for i in idx], "open": close - 0.1,
                          "high": close + 0.5, "low": close - 0.5, "close": close, "volume": 1000.0})
    frame.loc[frame.index[-1], "close"] += bump_last
    return frame


def _json(fig) -> dict:  # type: ignore[no-untyped-def]
    return json.loads(pio.to_json(fig))


def _apply(figure: dict, patch: Patch) -> dict:
    """Apply the Patch's operations to a figure dict (Extend, Delete, Assign: what the renderer does)."""
    ops = json.loads(json.dumps(patch.to_plotly_json(), default=lambda v: v.isoformat()))["operations"]
    for op in ops:
        *path, last = op["location"]
        node = figure
        for key in path:
            node = node[key]
        if op["operation"] == "Extend":
            node[last].extend(op["params"]["value"])
        elif op["operation"] == "Delete":
            del node[last]
        elif op["operation"] == "Assign":
            node[last] = op["params"]["value"]
        else:
            raise AssertionError(op)
    return figure


def chart_update(frame: pd.DataFrame, symbol: str, shown: dict | None):  # type: ignore[no-untyped-def]
    return _update(series_of(frame), symbol, shown)


def _values(v):  # type: ignore[no-untyped-def]
    """A plotly JSON array: a plain list, or a typed array ({"dtype", "bdata"}) decoded."""
    if isinstance(v, dict) and "bdata" in v:
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"])).tolist()
    return list(v)


def _candles(fig: dict) -> list[tuple]:
    trace = {k: _values(v) for k, v in fig["data"][0].items() if k in ("x", "open", "high", "low", "close")}
    return [(pd.Timestamp(x).isoformat(), round(o, 9), round(h, 9), round(lo, 9), round(c, 9))
            for x, o, h, lo, c in zip(trace["x"], trace["open"], trace["high"], trace["low"], trace["close"],
                                      strict=True)]


def test_first_refresh_sends_the_figure_then_nothing_when_no_bar_moved() -> None:
    frame = _frame(0, CHART_BARS)
    fig, shown = chart_update(frame, "IDX", None)
    assert _candles(_json(fig)) == _candles(_json(price_figure(frame, "x")))
    again, shown_again = chart_update(frame, "IDX", shown)
    assert again is no_update and shown_again == shown


def test_new_bars_are_a_patch_equal_to_a_fresh_figure() -> None:
    first = _frame(0, CHART_BARS)
    fig, shown = chart_update(first, "IDX", None)
    browser = _json(fig)
    assert all(isinstance(browser["data"][0][k], list) for k in ("x", "open", "close")), "typed arrays: no Patch"
    for step, (start, bump) in enumerate([(2, 0.0), (3, 0.0), (3, 0.7), (10, 0.0)]):
        frame = _frame(start, CHART_BARS, bump_last=bump)
        patch, shown = chart_update(frame, "IDX", shown)
        assert isinstance(patch, Patch), step
        browser = _apply(browser, patch)
        assert _candles(browser) == _candles(_json(price_figure(frame, "x"))), step
        assert len(browser["data"][0]["x"]) == CHART_BARS
        assert browser["layout"]["title"]["text"] == f"IDX · last {CHART_BARS} bars"
    # the Patch for two new bars is a small fraction of the whole figure's JSON
    patch, _ = chart_update(_frame(12, CHART_BARS), "IDX", shown)
    small = len(json.dumps(patch.to_plotly_json(), default=str))
    assert small * 10 < len(pio.to_json(price_figure(_frame(12, CHART_BARS), "x"))), small


def test_an_older_cached_figure_is_caught_up_by_the_next_patch() -> None:
    older = _frame(0, CHART_BARS)
    newer = _frame(3, CHART_BARS)
    fig, shown = _update(series_of(newer), "IDX", None, lambda: _json(price_figure(older, "x")) | {
        "data": [{**_json(price_figure(older, "x"))["data"][0], **series_of(older)}]})
    browser = _json(fig)
    assert _candles(browser) == _candles(_json(price_figure(older, "x")))
    patch, shown = chart_update(newer, "IDX", shown)
    assert isinstance(patch, Patch)
    assert _candles(_apply(browser, patch)) == _candles(_json(price_figure(newer, "x")))


def test_growing_history_and_a_gap_wider_than_the_window() -> None:
    fig, shown = chart_update(_frame(0, 5), "IDX", None)
    browser = _json(fig)
    patch, shown = chart_update(_frame(0, 8), "IDX", shown)  # fewer bars than the window: nothing dropped
    browser = _apply(browser, patch)
    assert _candles(browser) == _candles(_json(price_figure(_frame(0, 8), "x")))
    full, shown = chart_update(_frame(500, CHART_BARS), "IDX", shown)  # the tab slept: the whole figure again
    assert not isinstance(full, Patch)
    other, _ = chart_update(_frame(500, CHART_BARS), "OTHER", shown)
    assert not isinstance(other, Patch) and other is not no_update


def test_a_forged_or_broken_store_gets_the_whole_figure() -> None:
    frame = _frame(0, 10)
    for shown in ("x", [1], {"symbol": "IDX"}, {"symbol": "IDX", "count": "9", "last_ts": "a", "last_bar": []},
                  {"symbol": "IDX", "count": 10**9, "last_ts": "a", "last_bar": []}, {"symbol": 5, "count": 3}):
        fig, now = chart_update(frame, "IDX", shown)  # type: ignore[arg-type]
        assert isinstance(fig, dict) and len(fig["data"][0]["x"]) == 10 and now["count"] == 10, shown
