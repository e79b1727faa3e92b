"""Performance page data (audit 2): equity <= 0 in range, and max drawdown from the peak before the range.

Expectations are hand-computed from the written snapshots, on SQLite and PostgreSQL."""
from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest

from engine.analytics.solvency import metrics_with_note
from engine.store.migrate import open_store
from engine.store.models import AccountSnapshot
from engine.store.performance_queries import max_drawdown
from webapp.performance_data import build_view, day_bounds

DAYS = 252.0


def _store(url: str, times: pd.DatetimeIndex, equity: list[float] | np.ndarray) -> Any:
    store = open_store(url, migrate=True)
    with store.write() as s:
        s.add_all(AccountSnapshot(ts=t.to_pydatetime(), broker="paper", cash=Decimal(str(e)),
                                  equity=Decimal(str(round(float(e), 2))), buying_power=Decimal("0"),
                                  gross_exposure=Decimal("0")) for t, e in zip(times, equity, strict=True))
    return store


@pytest.fixture
def hourly(any_db_url: str) -> Iterator[Any]:
    made: list[Any] = []

    def make(values: list[float]) -> Any:
        times = pd.date_range("2025-01-06 15:00", periods=len(values), freq="1h", tz="UTC")
        made.append(_store(any_db_url, times, values))
        return made[-1]
    yield make
    for store in made:
        store.dispose()


def test_an_account_funded_later_measures_returns_from_its_first_positive_equity(hourly: Any) -> None:
    store = hourly([0.0, 0.0, 1000.0, 1010.0, 1005.0, 1020.0])
    with store.read() as s:
        view = build_view(s, None, None, session_mins=1440.0)
    assert view is not None
    m = view.metrics
    assert m["total_return"] == pytest.approx(1020.0 / 1000.0 - 1.0)
    assert m["max_drawdown"] == pytest.approx(1005.0 / 1010.0 - 1.0)
    assert any("first positive equity" in n for n in view.notes), view.notes
    assert view.daily["pnl"].sum() == pytest.approx(1020.0)  # daily P&L still counts the funding day
    assert view.chart["equity"].tolist()[-1] == 1020.0


def test_a_wiped_out_account_renders_with_blank_return_metrics(hourly: Any) -> None:
    store = hourly([1000.0, 1100.0, -5.0, 1000.0])
    with store.read() as s:
        view = build_view(s, None, None, session_mins=1440.0)
    assert view is not None
    m = view.metrics
    for key in ("total_return", "sharpe", "sortino", "volatility", "cagr", "calmar"):
        assert m[key] is None, key
    assert m["max_drawdown"] == pytest.approx(-5.0 / 1100.0 - 1.0)  # from the running peak 1100, through zero
    assert m["fills"] == 0 and m["trades"] == 0
    assert any("-5.00" in n and "blank" in n for n in view.notes), view.notes
    assert np.isfinite(view.chart["equity"]).all() and len(view.daily) == 1


def test_metrics_with_note_rules() -> None:
    idx = pd.bdate_range("2024-01-02", periods=5, tz="UTC")
    funded = pd.Series([0.0, 100.0, 110.0, 99.0, 121.0], index=idx)
    m, note = metrics_with_note(funded, None, None, DAYS)
    assert m["total_return"] == pytest.approx(0.21) and m["max_drawdown"] == pytest.approx(-0.1)
    assert note is not None and "2024-01-03" in note
    wiped = pd.Series([100.0, 120.0, 0.0, 50.0, 60.0], index=idx)
    m, note = metrics_with_note(wiped, None, pd.Series(["bull"], index=idx[:1]), DAYS)
    assert m["total_return"] is None and m["sharpe"] is None and m["max_drawdown"] == pytest.approx(-1.0)
    assert m["per_regime"] == {"bull": {"time_share": 1.0, "pnl": -40.0, "return": None, "trades": 0}}
    assert note is not None and "2024-01-04" in note
    fine = pd.Series([100.0, 101.0, 102.0, 101.0, 103.0], index=idx)
    assert metrics_with_note(fine, None, None, DAYS)[1] is None


def _peaked(url: str) -> tuple[Any, pd.DatetimeIndex, np.ndarray]:
    """20 weekdays, 2 snapshots a day: up to 120 on day 5, down to 90 on day 12, back to 100."""
    days = pd.bdate_range("2025-01-06", periods=20, tz="UTC")
    times = pd.DatetimeIndex([d + pd.Timedelta(hours=h) for d in days for h in (15, 19)])
    equity = np.round(np.concatenate([np.linspace(100, 120, 10), np.linspace(120, 90, 15),
                                      np.linspace(90, 100, 15)]) * 1000, 2)
    return _store(url, times, equity), times, equity


def test_max_drawdown_of_a_range_starts_from_the_peak_before_it(any_db_url: str) -> None:
    store, times, equity = _peaked(any_db_url)
    try:
        start, _ = day_bounds(pd.Timestamp("2025-01-15").date(), None)  # day 7: mid-drawdown, peak 120k before
        inside = equity[times >= pd.Timestamp(start)]
        expected = float(inside.min() / equity.max() - 1.0)  # hand: the low over the stored peak
        assert expected == pytest.approx(90 / 120 - 1.0, abs=1e-4)
        with store.read() as s:
            assert max_drawdown(s, start, None) == pytest.approx(expected, rel=1e-9)
            assert max_drawdown(s, None, None) == pytest.approx(expected, rel=1e-9)
            view = build_view(s, start, None, session_mins=1440.0)
        assert view is not None
        assert view.metrics["max_drawdown"] == pytest.approx(expected, rel=1e-9)
        assert view.metrics["max_drawdown"] == pytest.approx(view.chart["drawdown_pct"].min() / 100.0, rel=1e-9)
    finally:
        store.dispose()
