"""The Performance page measures the live account's returns on a regular grid, read exactly from the store.

Snapshots are written at irregular times (every 5 s while the engine runs, none while it is stopped);
expectations are picked by position or with pandas from the written rows, independently of the grid code.
"""
from __future__ import annotations

import io
import math
from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest

from engine.market.exchange import MarketCalendar
from engine.store.migrate import open_store
from engine.store.models import AccountSnapshot
from engine.store.performance_queries import account_points
from webapp.performance_data import build_view, day_bounds
from webapp.performance_display import csv_text, metrics_table
from webapp.performance_grid import MINUTE, QUARTER_HOUR


def _write(url: str, times: pd.DatetimeIndex, equity: np.ndarray) -> Any:
    store = open_store(url, migrate=True)
    with store.write() as s:
        s.add_all(AccountSnapshot(ts=t.to_pydatetime(), broker="paper", cash=Decimal("0"),
                                  equity=Decimal(str(round(float(e), 2))), buying_power=Decimal("0"),
                                  gross_exposure=Decimal("0")) for t, e in zip(times, equity, strict=True))
    return store


def _gap_history() -> tuple[pd.DatetimeIndex, np.ndarray]:
    """10:00:00-11:59:55 every 5 s, the engine stopped three hours, then 15:00:00-15:59:55 every 5 s."""
    times = pd.date_range("2026-03-02 10:00", periods=1440, freq="5s", tz="UTC").append(
        pd.date_range("2026-03-02 15:00", periods=720, freq="5s", tz="UTC"))
    equity = np.round(1000.0 + np.random.default_rng(9).normal(0.0, 3.0, len(times)), 2)
    equity[[0, 719, 1439, 2159]] = [1000.0, 1010.0, 999.99, 1020.0]
    return times, equity


@pytest.fixture
def gap_store(any_db_url: str) -> Any:
    store = _write(any_db_url, *_gap_history())
    yield store
    store.dispose()


def test_hourly_grid_of_five_second_snapshots_with_a_gap(gap_store: Any) -> None:
    with gap_store.read() as s:
        view = build_view(s, None, None, session_mins=1440.0)  # the simulated market: round the clock
    assert view is not None and view.grid is not None and view.grid_equity is not None
    assert view.grid.kind == "hourly" and view.grid.periods_per_year == 6048.0
    assert view.grid_equity.tolist() == [1000.0, 1010.0, 999.99, 1020.0]  # open, 10h, 11h, 15h closes
    r = np.array([1010.0, 999.99, 1020.0]) / np.array([1000.0, 1010.0, 999.99]) - 1.0
    assert view.metrics["volatility"] == pytest.approx(np.std(r, ddof=1) * math.sqrt(6048), rel=1e-12)
    assert view.metrics["sharpe"] == pytest.approx(r.mean() / np.std(r, ddof=1) * math.sqrt(6048), rel=1e-12)
    assert view.metrics["periods_per_year"] == 6048.0 and view.metrics["total_return"] == pytest.approx(0.02)
    assert view.metrics["return_frequency"] == "hourly closes (UTC)"
    assert "hourly returns" in view.definitions["volatility"] and "sqrt(6048)" in view.definitions["volatility"]
    assert "252 x 1440 session minutes / 60 = 6048" in view.definitions["periods_per_year"]
    assert "left out" in view.definitions["return_frequency"]
    assert "returns on hourly closes (UTC): 3 hourly returns from 2,160 snapshots" in view.notes[0]
    table = metrics_table(view)
    first = table.children[1].children[0]
    assert first.children[0].children == "Return frequency" and first.children[1].children == "hourly closes (UTC)"


def test_the_bucketed_read_holds_every_close(gap_store: Any) -> None:
    """The last snapshot of each UTC quarter hour (minute) is read, and the first snapshot; nothing else."""
    times, equity = _gap_history()
    frame = pd.Series(equity, index=times)
    for seconds, freq in ((QUARTER_HOUR, "15min"), (MINUTE, "min")):
        with gap_store.read() as s:
            points = account_points(s, None, None, seconds)
        expected = frame.groupby(frame.index.floor(freq)).tail(1)
        expected = pd.concat([frame.iloc[:1], expected])
        assert list(points["ts"]) == list(expected.index)
        assert points["equity"].tolist() == pytest.approx(expected.tolist())


def test_a_short_history_uses_minute_closes(any_db_url: str) -> None:
    times, equity = _gap_history()
    store = _write(any_db_url, times[:600], equity[:600])  # 10:00:00-10:49:55: one clock hour
    try:
        with store.read() as s:
            view = build_view(s, None, None, session_mins=1440.0)
    finally:
        store.dispose()
    assert view is not None and view.grid is not None and view.grid_equity is not None
    assert view.grid.kind == "minute" and view.grid.periods_per_year == 252 * 1440
    expected = [equity[0], *equity[11:600:12]]  # open, then the :55 snapshot of every minute
    assert view.grid_equity.tolist() == pytest.approx(expected)


def test_daily_closes_in_new_york_on_the_exchange_calendar(any_db_url: str) -> None:
    """35 weekdays of irregular snapshots 14:30-21:00 UTC and one at 00:30 UTC the next day (still the New York
    day), one on a Saturday (Monday's session on XNYS); two of the weekdays are NYSE holidays (Martin Luther
    King Day, Presidents' Day), whose snapshots belong to the next session. Closes: the last snapshot of each
    New York trading session."""
    rng = np.random.default_rng(4)
    days = pd.bdate_range("2026-01-05", periods=35, tz="UTC")
    stamps = []
    for d in days:
        offsets = np.sort(rng.uniform(14.5 * 3600, 21 * 3600, 25))
        stamps += [d + pd.Timedelta(seconds=float(o)) for o in offsets]
        stamps.append(d + pd.Timedelta(hours=24, minutes=30))  # 00:30 UTC next day = 19:30 New York the same day
    stamps.append(pd.Timestamp("2026-01-10 16:00", tz="UTC"))  # a Saturday
    times = pd.DatetimeIndex(sorted(stamps)).floor("s")
    equity = np.round(100_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.002, len(times)))), 2)
    store = _write(any_db_url, times, equity)
    calendar = MarketCalendar(timezone="America/New_York", exchange="XNYS")
    try:
        with store.read() as s:
            view = build_view(s, None, None, calendar=calendar)
            start, end = day_bounds(pd.Timestamp("2026-01-12").date(), None)
            ranged = build_view(s, start, end, calendar=calendar)
    finally:
        store.dispose()
    assert view is not None and view.grid is not None and view.grid_equity is not None
    assert view.grid.kind == "daily" and view.grid.periods_per_year == 252.0
    assert view.grid.timezone == "America/New_York"
    frame = pd.Series(equity, index=times)
    ny_day = pd.Series(frame.index.tz_convert("America/New_York").date, index=frame.index)
    for day, session in (((2026, 1, 10), (2026, 1, 12)),  # Saturday -> Monday
                         ((2026, 1, 19), (2026, 1, 20)), ((2026, 2, 16), (2026, 2, 17))):  # XNYS holidays
        ny_day[ny_day == datetime(*day).date()] = datetime(*session).date()
    closes = frame.groupby(ny_day.to_numpy()).last()
    assert len(closes) == 33  # 35 weekdays, two of them NYSE holidays
    assert view.grid_equity.tolist() == pytest.approx([equity[0], *closes.tolist()])
    r = np.diff(view.grid_equity.to_numpy()) / view.grid_equity.to_numpy()[:-1]
    assert view.metrics["volatility"] == pytest.approx(np.std(r, ddof=1) * math.sqrt(252), rel=1e-12)
    assert view.metrics["return_frequency"] == "daily closes (America/New_York)"
    assert "trading day in America/New_York" in view.definitions["return_frequency"]
    assert ranged is not None and ranged.grid is not None and ranged.grid_equity is not None
    # a range from mid-history opens with the last snapshot before it (Friday's evening one), as the daily P&L does
    inside, before = frame[frame.index >= pd.Timestamp(start)], frame[frame.index < pd.Timestamp(start)]
    assert ranged.grid_equity.index[0] == before.index[-1] and ranged.grid_equity.iloc[0] == before.iloc[-1]
    assert ranged.grid.kind == "hourly"  # 28 sessions in range: fewer than the daily grid's 30
    # XNYS session hours only (09:30-16:00 New York = 14:30-21:00 UTC in winter): the 19:30 New York snapshots
    # (00:30 UTC) and a holiday's count for the next session's 09:00 hour (14:00 UTC), as the daily grid folds them
    holidays = ["2026-01-19", "2026-02-16"]
    ny = inside.index.tz_convert("America/New_York")
    in_session = np.is_busday(ny.date.astype("datetime64[D]"), holidays=holidays) & (ny.hour * 60 + ny.minute >= 570) & (
        ny.hour < 16)
    following = np.busday_offset(ny.date.astype("datetime64[D]") + 1, 0, roll="forward", holidays=holidays)
    hour = np.where(in_session, inside.index.floor("h").tz_localize(None).to_numpy(),
                    following.astype("datetime64[ns]") + np.timedelta64(14, "h"))
    hourly = inside.groupby(hour).last()
    assert ranged.grid_equity.iloc[1:].tolist() == hourly.tolist()
    assert ranged.metrics["total_return"] == pytest.approx(inside.iloc[-1] / before.iloc[-1] - 1, rel=1e-12)
    assert ranged.daily["pnl"].sum() == pytest.approx(inside.iloc[-1] - before.iloc[-1], abs=1e-6)
    name, text = csv_text(view, "returns")  # the series the metrics use, for another tool to check them
    assert name == f"regimedesk-returns-daily-{times[0]:%Y%m%d}-{times[-1]:%Y%m%d}.csv"
    rows = pd.read_csv(io.StringIO(text))
    assert list(rows.columns) == ["ts", "equity", "return"] and len(rows) == 34  # the opening and 33 closes
    assert rows["equity"].tolist() == pytest.approx([equity[0], *closes.tolist()])
    assert math.isnan(rows["return"].iloc[0])
    c = closes.to_numpy()
    assert rows["return"].iloc[1:].tolist() == pytest.approx([c[0] / equity[0] - 1, *(c[1:] / c[:-1] - 1)], rel=1e-12)
