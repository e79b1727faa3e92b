"""periods_per_year from the bar spacing in market time: 252 daily, 252 x session minutes / bar minutes intraday."""
from __future__ import annotations

import pandas as pd

from engine.analytics import infer_periods_per_year
from engine.analytics.definitions import METRIC_DEFINITIONS, definitions_for
from engine.analytics.periods import session_minutes


def _sessions(days: int, freq: str, open_utc: str = "14:30", close_utc: str = "21:00") -> pd.DatetimeIndex:
    parts = [pd.date_range(f"{d.date()} {open_utc}", f"{d.date()} {close_utc}", freq=freq, tz="UTC",
                           inclusive="left") for d in pd.bdate_range("2024-03-04", periods=days)]
    return parts[0].append(parts[1:])


def test_daily_weekly_monthly() -> None:
    assert infer_periods_per_year(pd.bdate_range("2024-01-01", periods=300, tz="UTC")) == 252
    assert infer_periods_per_year(pd.date_range("2020-01-03", periods=60, freq="W-FRI", tz="UTC")) == 52
    assert infer_periods_per_year(pd.date_range("2020-01-31", periods=30, freq="ME", tz="UTC")) == 12


def test_intraday_uses_session_minutes() -> None:
    assert infer_periods_per_year(_sessions(5, "1min")) == 252 * 390  # a regular US session, one-minute bars
    assert infer_periods_per_year(_sessions(5, "5min")) == 252 * 78
    round_the_clock = pd.date_range("2024-03-04", periods=5 * 1440, freq="1min", tz="UTC")
    assert infer_periods_per_year(round_the_clock) == 252 * 1440
    assert infer_periods_per_year(round_the_clock, session_mins=390) == 252 * 390


def test_session_comes_from_the_market_not_from_where_a_range_cuts_it() -> None:
    """Partial first and last sessions, a slice of a round-the-clock market, a session across UTC midnight."""
    five = _sessions(5, "1min")
    assert session_minutes(five[200:-300]) == 390  # starts 17:50 on day 1, ends 16:00 on day 5
    assert infer_periods_per_year(five[200:-300]) == 252 * 390
    four_hours = pd.date_range("2026-01-05 15:00", "2026-01-05 19:00", freq="1min", tz="UTC")
    assert session_minutes(four_hours) == 1440  # no break: a market that trades round the clock
    assert infer_periods_per_year(four_hours) == 252 * 1440
    asx = pd.DatetimeIndex([t for d in pd.bdate_range("2024-03-04", periods=3)
                            for t in pd.date_range(f"{d.date()} 23:00", periods=360, freq="1min", tz="UTC")])
    assert session_minutes(asx) == 360  # 23:00 -> 05:00 UTC: six hours, though no UTC day holds more than five
    lunch = five[five.hour != 17]  # an hour's lunch break: one session of 330 traded minutes, not two
    assert session_minutes(lunch) == 330 and infer_periods_per_year(lunch) == 252 * 330
    one_bar = pd.DatetimeIndex(["2024-01-02 15:00"], tz="UTC")
    assert session_minutes(one_bar) == 1440 and infer_periods_per_year(one_bar) == 252


def test_bar_frequency_in_words() -> None:
    from engine.analytics.periods import bar_frequency

    def spaced(step: str, n: int = 5) -> pd.DatetimeIndex:
        return pd.date_range("2024-01-02", periods=n, freq=step, tz="UTC")

    assert bar_frequency(pd.bdate_range("2024-01-02", periods=30, tz="UTC")) == "daily bars"  # weekends ignored
    assert bar_frequency(spaced("5min")) == "5-minute bars" and bar_frequency(spaced("1h")) == "60-minute bars"
    assert bar_frequency(spaced("7D")) == "weekly bars" and bar_frequency(spaced("30D")) == "monthly bars"
    assert bar_frequency(spaced("1min", 1)) == "a single bar"


def test_definitions_name_the_factor_and_rate() -> None:
    defs = definitions_for(98280, 0.02)
    assert "98280" in defs["sharpe"] and "2.0000%" in defs["sharpe"]
    assert set(defs) == set(METRIC_DEFINITIONS) | {"return_frequency"}
    for key in ("total_return", "cagr", "volatility", "sharpe", "sortino", "calmar", "max_drawdown", "win_rate",
                "profit_factor", "exposure", "turnover", "trades", "commission"):
        assert key in METRIC_DEFINITIONS
