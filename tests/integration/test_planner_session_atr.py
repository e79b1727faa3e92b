"""The planner's sizing ATR reads the regular session's bars when the source has an exchange (Alpaca: XNYS), as the
regime does; pre-market minutes (thin, narrow ranges) made it ~3x too small and the risk-sized buys ~3x too large.

Hand numbers: every bar opens and closes at 100 with high/low 100 +- range/2, so each bar's true range is its range.
Friday 2026-12-04's regular session (390 minutes) has ranges 0.40, Monday 2026-12-07's pre-market (04:00-09:30 ET,
330 minutes) 0.03, and Monday's first 5 regular minutes 0.40. Regular-session bars only: every true range is 0.40, so
the ATR (Wilder, 14) is exactly 0.40. Every bar: the newest 300 rows are 295 pre-market minutes and 5 session ones,
and the ATR is far below 0.40 (it decays towards 0.03). Without an exchange (the simulated market) every bar counts.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from engine.market.exchange import MarketCalendar, alpaca_calendar
from engine.planner.portfolio import _history
from engine.store.db import Store
from engine.store.models import BarRow

NY = ZoneInfo("America/New_York")


def _bars(store: Store) -> None:
    rows: list[BarRow] = []

    def add(start: datetime, minutes: int, span: float) -> None:
        for m in range(minutes):
            ts = (start + timedelta(minutes=m)).astimezone(UTC)
            rows.append(BarRow(symbol="AAA", ts=ts, open=100.0, high=100.0 + span / 2, low=100.0 - span / 2,
                               close=100.0, volume=1000.0))

    add(datetime.combine(date(2026, 12, 4), time(9, 30), tzinfo=NY), 390, 0.40)
    add(datetime.combine(date(2026, 12, 7), time(4, 0), tzinfo=NY), 330, 0.03)
    add(datetime.combine(date(2026, 12, 7), time(9, 30), tzinfo=NY), 5, 0.40)
    with store.write() as s:
        s.add_all(rows)


def test_the_sizing_atr_reads_the_regular_session_with_an_exchange(store: Store) -> None:
    _bars(store)
    with store.read() as s:
        closes, atr = _history(s, ["AAA"], calendar=alpaca_calendar())
        closes_all, atr_all = _history(s, ["AAA"])
        _, atr_utc = _history(s, ["AAA"], calendar=MarketCalendar(timezone="UTC", decided_by="test"))
    assert atr["AAA"] == pytest.approx(0.40, abs=1e-9)
    assert atr_all["AAA"] < 0.2  # the pre-market's narrow minutes dominate the newest 300 rows
    assert atr_utc["AAA"] == atr_all["AAA"]  # no exchange: every bar, as before
    assert len(closes) == len(closes_all) == 300  # the closes stay the newest 300 rows, pre-market included
    assert closes.index.equals(closes_all.index)
