"""The hourly grid of US equities (audit 2): a 09:30-16:00 New York session touches 7 clock hours
(9, 10, ..., 15), so 7 hourly returns are measured per session and a year is 252 x 7 of them, as a
backtest on hourly bars of the same sessions counts."""
from __future__ import annotations

import numpy as np
import pandas as pd

from engine.analytics.grid import choose_grid, close_mask
from engine.analytics.periods import infer_periods_per_year

XNYS_HOURS = [9, 10, 11, 12, 13, 14, 15]  # hand count: the New York clock hours 09:30-16:00 overlaps


def _sessions(days: int = 5) -> pd.DatetimeIndex:
    """Snapshots every 5 s over `days` XNYS regular sessions (the engine running only in session)."""
    parts = [pd.date_range(f"{d.date()} 09:30", f"{d.date()} 15:59:55", freq="5s", tz="America/New_York")
             for d in pd.bdate_range("2025-03-10", periods=days)]
    return parts[0].append(parts[1:]).tz_convert("UTC")


def test_hourly_grid_of_xnys_counts_the_clock_hours_a_session_touches() -> None:
    ts = _sessions()
    grid = choose_grid(ts, "America/New_York", 390.0)
    assert grid.kind == "hourly"
    assert grid.periods_per_year == 252 * len(XNYS_HOURS)
    closes = ts[close_mask(ts, grid, opening=False)]
    assert sorted(set(closes.tz_convert("America/New_York").hour)) == XNYS_HOURS
    assert len(closes) / 5 == len(XNYS_HOURS)  # the returns measured per session
    assert "1764" in grid.factor_text


def test_the_live_grid_and_a_backtest_of_the_same_hourly_bars_agree() -> None:
    ts = _sessions()
    bars = ts[::720]  # one bar an hour stamped 09:30, 10:30, ..., 15:30 New York
    assert infer_periods_per_year(pd.DatetimeIndex(bars)) == choose_grid(ts, "America/New_York", 390.0).periods_per_year
    assert choose_grid(ts, "America/New_York", None).periods_per_year == 252 * 7  # the session read from the data


def test_a_round_the_clock_market_is_unchanged() -> None:
    ts = pd.date_range("2026-03-02 10:00", periods=2160, freq="5s", tz="UTC")  # three clock hours
    assert choose_grid(ts, "UTC", 1440.0).periods_per_year == 6048.0
    assert np.isclose(choose_grid(ts[:600], "UTC", 1440.0).periods_per_year, 252 * 1440)
