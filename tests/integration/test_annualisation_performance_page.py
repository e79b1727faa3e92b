"""The Performance page annualises the simulated market (it trades every day, weekends included) by 365 days,
and Alpaca's XNYS by 252 sessions. Oracle: empyrical on the page's own daily closes."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import empyrical
import numpy as np
import pandas as pd
import pytest

from engine.settings import MarketSourceName, load_settings
from engine.store.migrate import open_store
from engine.store.models import AccountSnapshot
from webapp.performance_data import build_view, market_days_per_year, market_session_minutes


def _store(url: str, times: pd.DatetimeIndex) -> Any:
    store = open_store(url, migrate=True)
    growth = 1.10 ** (1 / (len(times) - 1))
    values = np.round(100_000 * growth ** np.arange(len(times)) * (1 + 0.002 * np.sin(np.arange(len(times)) / 7)), 2)
    with store.write() as s:
        s.add_all(AccountSnapshot(ts=t.to_pydatetime(), broker="paper", cash=Decimal(str(v)), equity=Decimal(str(v)),
                                  buying_power=Decimal(str(v)), gross_exposure=Decimal("0"))
                  for t, v in zip(times, values, strict=True))
    return store


def test_simulated_market_year_is_365_days(any_db_url: str) -> None:
    settings = load_settings(database_url=any_db_url, market_source=MarketSourceName.SIMULATED)
    assert market_days_per_year(settings) == 365 and market_session_minutes(settings) == 1440
    store = _store(any_db_url, pd.date_range("2024-01-01", "2025-01-01", freq="6h", tz="UTC"))
    try:
        with store.read() as s:
            view = build_view(s, None, None, market_session_minutes(settings), None, market_days_per_year(settings))
    finally:
        store.dispose()
    assert view is not None and view.grid is not None and view.grid_equity is not None
    assert view.grid.kind == "daily" and view.grid.periods_per_year == 365
    r = view.grid_equity.pct_change().dropna()
    assert len(r) == 367  # the closes of 2024-01-01 .. 2025-01-01 (a leap year: 367 days) after the opening
    m = view.metrics
    assert m["volatility"] == pytest.approx(empyrical.annual_volatility(r, annualization=365), rel=1e-9)
    assert m["sharpe"] == pytest.approx(empyrical.sharpe_ratio(r, annualization=365), rel=1e-9)
    assert m["cagr"] == pytest.approx(empyrical.cagr(r, annualization=365), rel=1e-9)
    assert "365 trading days (the market trades every day)" in view.definitions["periods_per_year"]
    assert m["days_per_year"] == 365


def test_alpaca_keeps_252_sessions(any_db_url: str) -> None:
    settings = load_settings(database_url=any_db_url, market_source=MarketSourceName.ALPACA,
                             alpaca_key_id="test-key", alpaca_secret_key="test-secret")  # never used: no request
    assert market_days_per_year(settings) == 252
    store = _store(any_db_url, pd.DatetimeIndex([t + pd.Timedelta(hours=h) for t in pd.bdate_range(
        "2024-01-02", periods=60, tz="UTC") for h in (15, 20)]))
    try:
        with store.read() as s:
            view = build_view(s, None, None, market_session_minutes(settings), None, market_days_per_year(settings))
    finally:
        store.dispose()
    assert view is not None and view.grid is not None and view.grid_equity is not None
    assert view.grid.periods_per_year == 252
    r = view.grid_equity.pct_change().dropna()
    assert view.metrics["volatility"] == pytest.approx(empyrical.annual_volatility(r, annualization=252), rel=1e-9)
