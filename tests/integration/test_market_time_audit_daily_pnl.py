"""Daily P&L counts the days the daily-loss limit counts (MarketCalendar.trading_day): with XNYS an after-hours
snapshot after 19:00 New York (past UTC midnight) belongs to its session, never to Thanksgiving or a Saturday; a
market without an exchange (the simulated market: its timezone's calendar days) keeps its timezone's days; no
calendar keeps UTC days. Expected days from exchange-calendars and zoneinfo; stores: SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import exchange_calendars as xc
import pandas as pd

from components import backtest_views as bv
from engine.market.exchange import MarketCalendar, alpaca_calendar
from engine.store import performance_queries as pq
from engine.store.migrate import open_store
from engine.store.models.trading import AccountSnapshot
from engine.trading.equity import trading_day
from webapp.performance_data import build_view, daily_pnl

NY = ZoneInfo("America/New_York")
XNYS = xc.get_calendar("XNYS")
SNAPS = [  # New York time, equity
    (datetime(2026, 11, 24, 15, 0), 99_900),    # Tue: the equity the range opens with (before it)
    (datetime(2026, 11, 25, 15, 59), 100_000),  # Wed
    (datetime(2026, 11, 25, 19, 30), 100_400),  # Wed after-hours = Thu 00:30 UTC (Thanksgiving: no session)
    (datetime(2026, 11, 27, 12, 59), 101_000),  # Fri, early close
    (datetime(2026, 11, 27, 19, 30), 99_000),   # Fri after-hours = Sat 00:30 UTC
    (datetime(2026, 11, 30, 10, 0), 99_500),    # Mon
]
START, END = datetime(2026, 11, 25, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)


def utc_of(local: datetime) -> datetime:
    return local.replace(tzinfo=NY).astimezone(UTC)


def seeded(url: str):  # type: ignore[no-untyped-def]
    store = open_store(url, migrate=True)
    with store.write() as s:
        for local, eq in SNAPS:
            s.add(AccountSnapshot(ts=utc_of(local), broker="alpaca", cash=Decimal(eq), equity=Decimal(eq),
                                  buying_power=Decimal(eq), gross_exposure=Decimal(0)))
    return store


def oracle_session(local: datetime) -> str:
    return XNYS.date_to_session(pd.Timestamp(local.date()), direction="next").date().isoformat()


def test_daily_pnl_is_per_xnys_session_day(any_db_url: str) -> None:
    cal = alpaca_calendar()
    store = seeded(any_db_url)
    try:
        with store.read() as s:
            daily = daily_pnl(s, START, END, cal)
            view = build_view(s, START, END, 390.0, cal)
        expected_days = sorted({oracle_session(local) for local, _ in SNAPS[1:]})
        assert expected_days == ["2026-11-25", "2026-11-27", "2026-11-30"]
        assert daily["day"].tolist() == expected_days
        assert all(XNYS.is_session(pd.Timestamp(d)) for d in daily["day"])
        assert daily["pnl"].tolist() == [500.0, -1400.0, 500.0]  # 100,400-99,900; 99,000-100,400; 99,500-99,000
        assert view is not None and view.daily["day"].tolist() == expected_days
        assert "XNYS" in view.daily_label and "session" in view.daily_label
        for local, _ in SNAPS:  # the same day the risk engine's daily-loss limit counts
            assert trading_day(utc_of(local), cal) == oracle_session(local)
    finally:
        store.dispose()


def test_without_an_exchange_the_days_are_the_market_timezones(any_db_url: str) -> None:
    store = seeded(any_db_url)
    kolkata = MarketCalendar(timezone="Asia/Kolkata")  # the simulated market with the workbook's default zone
    try:
        with store.read() as s:
            local_days = pq.daily_equity(s, START, END, kolkata)["day"].tolist()
            utc_days = pq.daily_equity(s, START, END)["day"].tolist()
        zone = ZoneInfo("Asia/Kolkata")
        assert local_days == sorted({utc_of(t).astimezone(zone).date().isoformat() for t, _ in SNAPS[1:]})
        assert local_days == sorted({trading_day(utc_of(t), kolkata) for t, _ in SNAPS[1:]})
        assert utc_days == ["2026-11-25", "2026-11-26", "2026-11-27", "2026-11-28", "2026-11-30"]
    finally:
        store.dispose()


def test_backtest_daily_pnl_uses_the_runs_session_days() -> None:
    ts = pd.to_datetime([utc_of(t) for t, _ in SNAPS[1:]], utc=True)
    equity = pd.DataFrame({"timestamp": ts, "equity": [float(e) for _, e in SNAPS[1:]]})
    pnl = bv.daily_pnl(equity, alpaca_calendar())
    assert pnl.index.tolist() == ["2026-11-25", "2026-11-27", "2026-11-30"]
    assert pnl.tolist() == [400.0, -1400.0, 500.0]  # the first day against the run's first equity (100,000)
    assert bv.daily_pnl(equity).index.tolist() == ["2026-11-25", "2026-11-26", "2026-11-27", "2026-11-28",
                                                   "2026-11-30"]  # no calendar: UTC days, as before
    view = bv.RunView("#1", equity.assign(regime_name=None), pd.DataFrame(), pd.DataFrame(), "IDX", {},
                      alpaca_calendar())
    assert "XNYS" in bv.daily_pnl_figure([view]).layout.xaxis.title.text
