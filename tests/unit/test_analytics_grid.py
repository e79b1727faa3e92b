"""Returns of irregular account snapshots on a regular grid (engine/analytics/grid.py).

Expectations are computed by hand or with numpy from the closes picked by position, independently of the
grid code: snapshots every 5 s with a 3-hour gap give hourly closes, empty hours left out; irregular
snapshots whose closes fall on a regular series give that series' metrics exactly; regular bars (a
backtest's) come back unchanged, so their metrics are today's.
"""
from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from engine.analytics import compute_metrics, infer_periods_per_year
from engine.analytics.definitions import METRIC_DEFINITIONS, definitions_for
from engine.analytics.grid import (
    DAILY_MIN_SESSIONS,
    ReturnGrid,
    choose_grid,
    close_mask,
    on_grid,
    period_keys,
)

ROUND_THE_CLOCK = 1440.0  # the simulated market's session (webapp.performance_data.market_session_minutes)


def _five_second_snapshots_with_a_gap() -> pd.Series:
    """10:00:00-11:59:55 every 5 s, the engine stopped 12:00-15:00, then 15:00:00-15:59:55 every 5 s."""
    rng = np.random.default_rng(3)
    first = pd.date_range("2026-03-02 10:00", periods=1440, freq="5s", tz="UTC")
    second = pd.date_range("2026-03-02 15:00", periods=720, freq="5s", tz="UTC")
    times = first.append(second)
    values = 1000.0 + rng.normal(0.0, 3.0, len(times))
    values[0], values[719], values[1439], values[2159] = 1000.0, 1010.0, 999.99, 1020.0  # open, 3 hourly closes
    return pd.Series(values, index=times)


def test_five_second_snapshots_with_a_three_hour_gap_by_hand() -> None:
    eq = _five_second_snapshots_with_a_gap()
    grid = choose_grid(pd.DatetimeIndex(eq.index), "UTC", ROUND_THE_CLOCK)
    assert grid == ReturnGrid("hourly", 252 * 24, "UTC", ROUND_THE_CLOCK)  # 6,048 hourly returns a year
    closes = on_grid(eq, grid)
    # the opening snapshot and the last snapshot of 10:00, 11:00 and 15:00; 12:00-14:00 had none: left out
    assert list(closes.index.strftime("%H:%M:%S")) == ["10:00:00", "10:59:55", "11:59:55", "15:59:55"]
    assert closes.tolist() == [1000.0, 1010.0, 999.99, 1020.0]

    r = np.array([1010.0 / 1000.0 - 1, 999.99 / 1010.0 - 1, 1020.0 / 999.99 - 1])  # by hand
    mean = r.sum() / 3
    std = math.sqrt(((r - mean) ** 2).sum() / 2)  # ddof 1
    m = compute_metrics(closes, None, None, grid.periods_per_year)
    assert m["volatility"] == pytest.approx(std * math.sqrt(6048), rel=1e-12)
    assert m["sharpe"] == pytest.approx(mean / std * math.sqrt(6048), rel=1e-12)
    downside = math.sqrt(np.minimum(r, 0.0) ** 2 / 3 @ np.ones(3)) * math.sqrt(6048)
    assert m["sortino"] == pytest.approx(mean * 6048 / downside, rel=1e-12)
    assert m["total_return"] == pytest.approx(0.02, rel=1e-12)
    assert m["periods_per_year"] == 6048.0

    # the old rule, every snapshot annualised by its median spacing, said something else entirely
    old = compute_metrics(eq, None, None, infer_periods_per_year(pd.DatetimeIndex(eq.index), ROUND_THE_CLOCK))
    assert old["periods_per_year"] == 252 * 1440 * 12
    assert old["volatility"] != pytest.approx(m["volatility"], rel=0.1)


def test_forward_fill_is_not_used() -> None:
    """Three empty hours would add three zero returns; left out, the 11:59:55 -> 15:59:55 return is one return."""
    eq = _five_second_snapshots_with_a_gap()
    closes = on_grid(eq, ReturnGrid("hourly", 6048.0, "UTC", ROUND_THE_CLOCK))
    assert len(closes.pct_change().dropna()) == 3


def test_the_grid_follows_the_history_length() -> None:
    minutes = pd.date_range("2026-03-02 10:00", "2026-03-02 11:59:55", freq="5s", tz="UTC")  # two clock hours
    assert choose_grid(minutes, session_mins=390).kind == "minute"
    assert choose_grid(minutes, session_mins=390).periods_per_year == 252 * 390
    hours = pd.date_range("2026-03-02 10:00", "2026-03-02 12:00", freq="5s", tz="UTC")  # three clock hours
    assert choose_grid(hours, session_mins=390) == ReturnGrid("hourly", 252 * 7, "UTC", 390)  # ceil(390 / 60): the clock hours a session touches
    days = pd.bdate_range("2026-01-05", periods=DAILY_MIN_SESSIONS, tz="UTC") + pd.Timedelta(hours=15)
    assert choose_grid(days).kind == "daily"  # 30 sessions
    assert choose_grid(days[:-1], session_mins=390).kind == "hourly"  # 29 sessions: not yet a daily grid


def test_daily_closes_in_the_market_timezone_and_its_sessions() -> None:
    """New York: 20:30 UTC and 01:30 UTC the next day are the same New York day; a Saturday snapshot belongs to
    Monday's session when the calendar says so."""
    stamps = pd.DatetimeIndex(["2026-03-02 20:30", "2026-03-03 01:30", "2026-03-03 15:00", "2026-03-07 16:00",
                               "2026-03-09 15:00"], tz="UTC")
    assert len(np.unique(period_keys(stamps, "daily", "UTC"))) == 4
    ny = period_keys(stamps, "daily", "America/New_York")
    assert ny[0] == ny[1] != ny[2]

    def next_weekday(day: date) -> date:
        while day.weekday() >= 5:
            day += timedelta(days=1)
        return day
    mapped = period_keys(stamps, "daily", "America/New_York", next_weekday)
    assert mapped[3] == mapped[4]  # Saturday -> Monday
    mask = close_mask(stamps, ReturnGrid("daily", 252.0, "America/New_York"), next_weekday)
    assert mask.tolist() == [True, True, True, False, True]  # open, Mon close, Tue close, (Sat), Mon close


def test_hours_of_a_half_hour_zone_start_at_its_half_hours() -> None:
    stamps = pd.DatetimeIndex(["2026-03-02 04:20", "2026-03-02 04:40", "2026-03-02 05:20"], tz="UTC")
    utc = period_keys(stamps, "hourly", "UTC")
    india = period_keys(stamps, "hourly", "Asia/Kolkata")  # UTC+05:30: its hours begin at :30 UTC
    assert utc[0] == utc[1] != utc[2] and india[0] != india[1] == india[2]


def _regular_daily(n: int = 60) -> pd.Series:
    rng = np.random.default_rng(11)
    times = pd.bdate_range("2026-01-05", periods=n, tz="UTC") + pd.Timedelta(hours=20, minutes=59)
    return pd.Series(100_000.0 * np.exp(np.cumsum(rng.normal(0.0003, 0.01, n))), index=times)


def test_irregular_snapshots_whose_closes_are_on_the_grid_give_the_regular_result() -> None:
    regular = _regular_daily()
    rng = np.random.default_rng(5)
    extra_t, extra_v = [], []
    for t in regular.index[1:]:  # the first close is the opening equity: nothing before it in its day
        offsets = np.sort(rng.uniform(60, 6 * 3600, 40))  # 40 snapshots at random times that day, before the close
        extra_t += [t - pd.Timedelta(seconds=float(s)) for s in offsets]
        extra_v += list(regular[t] * (1 + rng.normal(0, 0.02, 40)))
    extra = pd.Series(extra_v, index=pd.DatetimeIndex(extra_t).as_unit(regular.index.unit))
    irregular = pd.concat([regular, extra]).sort_index()
    assert len(irregular) == len(regular) + 40 * (len(regular) - 1)

    grid = choose_grid(pd.DatetimeIndex(irregular.index))
    assert grid == ReturnGrid("daily", 252.0, "UTC")
    pd.testing.assert_series_equal(on_grid(irregular, grid), regular)
    assert compute_metrics(on_grid(irregular, grid), None, None, grid.periods_per_year) == \
        compute_metrics(regular, None, None, grid.periods_per_year)

    hourly = pd.Series(regular.to_numpy()[:10], index=pd.date_range("2026-03-02 09:30", periods=10, freq="h",
                                                                     tz="UTC"))
    noisy = pd.concat([hourly, pd.Series(1.0, index=hourly.index[1:] - pd.Timedelta(minutes=17))]).sort_index()
    grid = choose_grid(pd.DatetimeIndex(noisy.index), session_mins=ROUND_THE_CLOCK)
    assert grid.kind == "hourly"
    assert compute_metrics(on_grid(noisy, grid), None, None, grid.periods_per_year) == \
        compute_metrics(hourly, None, None, grid.periods_per_year)


@pytest.mark.parametrize("freq", ["B", "h", "min"])
def test_regular_bars_come_back_unchanged_with_the_backtest_factor(freq: str) -> None:
    """Daily bars over 60 sessions, hourly bars over 20 hours, minute bars over 2 hours: the grid is the bars'
    own, its factor the one the backtest infers, so the metrics are exactly the backtest's."""
    n = {"B": 60, "h": 20, "min": 120}[freq]
    rng = np.random.default_rng(2)
    index = (pd.bdate_range("2026-01-05", periods=n, tz="UTC") if freq == "B"
             else pd.date_range("2026-03-02 00:00", periods=n, freq=freq, tz="UTC"))
    eq = pd.Series(1000.0 * np.exp(np.cumsum(rng.normal(0, 0.001, n))), index=index)
    grid = choose_grid(index, session_mins=ROUND_THE_CLOCK)
    assert grid.kind == {"B": "daily", "h": "hourly", "min": "minute"}[freq]
    assert grid.periods_per_year == infer_periods_per_year(index, ROUND_THE_CLOCK)
    pd.testing.assert_series_equal(on_grid(eq, grid), eq)
    assert compute_metrics(on_grid(eq, grid), None, None, grid.periods_per_year) == \
        compute_metrics(eq, None, None, infer_periods_per_year(index, ROUND_THE_CLOCK))


def test_backtest_metrics_are_unchanged() -> None:
    """A backtest on regular minute bars: its metrics (engine/backtest/outputs.compute, untouched) equal the
    shared metrics of its equity put through the grid, and the definitions it shows keep their words."""
    from engine.backtest.inputs import BacktestSpec, preset_by_name
    from engine.backtest.outputs import compute, equity_series, periods_per_year
    from engine.backtest.runner import run_backtest
    from engine.backtest.sample import simulated_frames
    from engine.params import default_params

    frames = simulated_frames(400, freq="min")
    ts = pd.DatetimeIndex(frames["IDX"]["timestamp"])
    result = run_backtest(BacktestSpec(frames=frames, index_symbol="IDX", params=default_params(),
                                       preset=preset_by_name("default"), start=ts[300].to_pydatetime(),
                                       end=ts[360].to_pydatetime()))
    eq = equity_series(result)
    grid = ReturnGrid("minute", periods_per_year(result), "UTC", result.session_minutes)
    pd.testing.assert_series_equal(on_grid(eq, grid), eq)
    fills = result.fills.copy()
    for col in ("qty", "price", "commission"):
        fills[col] = fills[col].astype(float)
    regimes = pd.Series(result.equity["regime_name"].to_numpy(dtype=object), index=eq.index).dropna()
    gross = pd.Series(result.equity["gross_exposure"].to_numpy(dtype=float), index=eq.index)
    assert compute(result) == {"return_frequency": "1-minute bars",
                               **compute_metrics(on_grid(eq, grid), fills, regimes if len(regimes) else None,
                                                 grid.periods_per_year, gross_exposure=gross),
                               "days_per_year": 252.0}  # minute bars of weekdays only: an exchange's year


def test_definitions_without_a_grid_keep_their_words_and_with_one_state_it() -> None:
    plain = definitions_for(252, 0.0)
    assert set(plain) == set(METRIC_DEFINITIONS) | {"return_frequency"}
    assert plain["return_frequency"].startswith("One return per bar of the index, in market time")
    assert plain["volatility"] == ("Annualised volatility: standard deviation of per-bar returns (ddof 1) x sqrt(252) "
                                   "(empyrical.annual_volatility).")
    assert "rf = 0.0000% a year = 0.000000% a bar (empyrical.sharpe_ratio)." in plain["sharpe"]
    assert plain["sharpe"].endswith("Blank with fewer than two returns or when they do not vary.")
    assert plain["avg_gross_exposure"].endswith("equity at the start of each bar.")
    assert plain["max_drawdown_duration"].startswith("Longest time under water: bars from a running peak")
    assert "years counted as bars / 252" in plain["cagr"]

    grid = ReturnGrid("hourly", 6048.0, "Europe/London", 1440.0)
    shown = definitions_for(grid.periods_per_year, 0.0, grid)
    assert set(shown) == set(METRIC_DEFINITIONS) | {"return_frequency"}
    assert "standard deviation of hourly returns" in shown["volatility"] and "sqrt(6048)" in shown["volatility"]
    assert "an hour" in shown["sharpe"] and "bar" not in shown["sharpe"]
    assert "hourly closes (Europe/London)" in shown["periods_per_year"]
    assert "252 x 1440 session minutes / 60 = 6048" in shown["periods_per_year"]
    assert "clock hour in Europe/London" in shown["return_frequency"]
    assert "left out" in shown["return_frequency"]
    assert not any("bar" in v for v in shown.values())
