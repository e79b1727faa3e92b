"""A market that trades every day (the simulated market, crypto) is annualised by 365 days, an exchange (XNYS)
by its 252 sessions, as before. Oracle: empyrical with the annualization a year of that market really has."""
from __future__ import annotations

import empyrical
import numpy as np
import pandas as pd
import pytest

from engine.analytics import compute_metrics, infer_periods_per_year
from engine.analytics.periods import days_per_year
from engine.backtest.outputs import compute, metrics_json
from engine.backtest.runner import FILL_COLUMNS, BacktestResult


def _equity(index: pd.DatetimeIndex, seed: int = 7) -> pd.Series:
    rng = np.random.default_rng(seed)
    returns = rng.normal(0.0004, 0.01, len(index) - 1)
    return pd.Series(1e6 * np.concatenate([[1.0], np.cumprod(1.0 + returns)]), index=index)


def _result(equity: pd.Series) -> BacktestResult:
    frame = pd.DataFrame({"timestamp": equity.index, "equity": equity.to_numpy(), "cash": equity.to_numpy(),
                          "gross_exposure": 0.0, "regime_name": None})
    return BacktestResult(equity=frame, orders=pd.DataFrame(), fills=pd.DataFrame(columns=FILL_COLUMNS),
                          index_close=pd.Series(equity.to_numpy()), prices=pd.DataFrame({"timestamp": equity.index}),
                          bar_seconds=0.0, bars=len(equity))


def test_a_calendar_year_of_daily_bars_every_day_is_one_year() -> None:
    days = pd.date_range("2023-01-01", "2024-01-01", freq="D", tz="UTC")  # 366 bars, 365 returns, weekends included
    eq = _equity(days)
    assert days_per_year(days) == 365 and infer_periods_per_year(days) == 365
    m = compute_metrics(eq, None, None, infer_periods_per_year(days))
    r = eq.pct_change().dropna()
    total = eq.iloc[-1] / eq.iloc[0] - 1.0
    assert m["cagr"] == pytest.approx(total, rel=1e-12)  # a calendar year: the CAGR is the year's growth
    assert m["cagr"] == pytest.approx(empyrical.cagr(r, annualization=365), rel=1e-12)
    assert m["volatility"] == pytest.approx(empyrical.annual_volatility(r, annualization=365), rel=1e-12)
    assert m["sharpe"] == pytest.approx(empyrical.sharpe_ratio(r, annualization=365), rel=1e-12)
    assert m["sortino"] == pytest.approx(empyrical.sortino_ratio(r, annualization=365), rel=1e-12)
    assert m["calmar"] == pytest.approx(empyrical.calmar_ratio(r, annualization=365), rel=1e-12)


def test_backtest_of_hourly_bars_round_the_clock_every_day() -> None:
    hours = pd.date_range("2024-01-01", "2025-01-01", freq="1h", tz="UTC")
    eq = _equity(hours, seed=3)
    m = compute(_result(eq))
    r = eq.pct_change().dropna()
    assert m["periods_per_year"] == 365 * 24 and m["days_per_year"] == 365
    assert m["volatility"] == pytest.approx(empyrical.annual_volatility(r, annualization=365 * 24), rel=1e-12)
    assert m["sharpe"] == pytest.approx(empyrical.sharpe_ratio(r, annualization=365 * 24), rel=1e-12)
    assert m["sortino"] == pytest.approx(empyrical.sortino_ratio(r, annualization=365 * 24), rel=1e-12)
    assert m["cagr"] == pytest.approx(empyrical.cagr(r, annualization=365 * 24), rel=1e-12)
    shown = metrics_json(m)
    assert "Here 8760 = 365 trading days a year x 24 bars a trading day." in shown


def test_an_exchange_keeps_252_sessions() -> None:
    """XNYS: weekday daily bars and 390-minute sessions of minute bars annualise exactly as before."""
    sessions = pd.bdate_range("2024-01-02", periods=300, tz="UTC")
    assert days_per_year(sessions) == 252 and infer_periods_per_year(sessions) == 252
    eq = _equity(sessions, seed=5)
    m = compute(_result(eq))
    r = eq.pct_change().dropna()
    assert m["periods_per_year"] == 252 and m["days_per_year"] == 252
    assert m["volatility"] == pytest.approx(empyrical.annual_volatility(r, annualization=252), rel=1e-12)
    assert m["sharpe"] == pytest.approx(empyrical.sharpe_ratio(r, annualization=252), rel=1e-12)
    minutes = pd.DatetimeIndex([t for d in pd.bdate_range("2024-03-04", periods=10)
                                for t in pd.date_range(f"{d.date()} 14:30", periods=390, freq="1min", tz="UTC")])
    assert infer_periods_per_year(minutes) == 252 * 390
    # late American hours reach Saturday in UTC, Asia-Pacific opens reach Sunday: neither alone is a 7-day market
    late = pd.DatetimeIndex([t + pd.Timedelta(hours=4) for t in pd.bdate_range("2024-03-04", periods=10, tz="UTC")])
    assert days_per_year(late + pd.Timedelta(hours=21)) == 252 and days_per_year(late - pd.Timedelta(hours=27)) == 252
