"""periods_per_year from the bar spacing in market time: 252 daily, 252 x session minutes / bar minutes intraday."""
from __future__ import annotations

import pandas as pd

from engine.analytics import infer_periods_per_year
from engine.analytics.definitions import METRIC_DEFINITIONS, definitions_for


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


def test_definitions_name_the_factor_and_rate() -> None:
    defs = definitions_for(98280, 0.02)
    assert "98280" in defs["sharpe"] and "2.0000%" in defs["sharpe"]
    assert set(defs) == set(METRIC_DEFINITIONS)
    for key in ("total_return", "cagr", "volatility", "sharpe", "sortino", "calmar", "max_drawdown", "win_rate",
                "profit_factor", "exposure", "turnover", "trades", "commission"):
        assert key in METRIC_DEFINITIONS
