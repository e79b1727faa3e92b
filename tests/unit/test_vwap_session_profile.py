"""The VWAP volume profile in exchange session minutes (audit finding 7): history from the last EDT week, a VWAP on
the first EST day (2025-11-03). Keyed by UTC minute the profile moved an hour (the open spike landed on 14:30 ET);
keyed by minutes since the XNYS open it stays on the open and the close. Weights worked by hand."""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest

from engine.execution.slicing import SliceSpec, build_schedule, volume_profile, vwap_weights
from engine.market.exchange import MarketCalendar, alpaca_calendar

NY = ZoneInfo("America/New_York")


def edt_week() -> list[tuple[datetime, float]]:
    """2025-10-27..31 (EDT), 04:00-20:00 ET minute bars (naive UTC, as SQLite returns them): session minutes
    0-29 and 360-389 trade 100,000, the other session minutes 20,000; pre-market / after-hours 50,000 each
    (heavy, so counting them would show)."""
    out = []
    for d in (date(2025, 10, 27) + timedelta(days=i) for i in range(5)):
        open_ = datetime.combine(d, time(9, 30), tzinfo=NY)
        for m in range(-330, 630):  # 04:00 .. 19:59 ET
            ts = open_ + timedelta(minutes=m)
            vol = 50_000 if not 0 <= m < 390 else 100_000 if m < 30 or m >= 360 else 20_000
            out.append((ts.astimezone(UTC).replace(tzinfo=None), float(vol)))
    return out


def test_the_profile_is_keyed_by_session_minute_from_regular_bars_only():
    profile = volume_profile(edt_week(), alpaca_calendar())
    assert sorted(profile) == list(range(390))
    assert profile[0] == profile[29] == profile[360] == profile[389] == 100_000
    assert profile[30] == profile[359] == 20_000


def test_vwap_on_the_first_est_day_follows_the_edt_weeks_session_profile():
    start = datetime.combine(date(2025, 11, 3), time(9, 30), tzinfo=NY).astimezone(UTC)  # 14:30 UTC (EST)
    spec = SliceSpec("vwap", duration_s=390 * 60, slices=13)
    # slice 0 = minutes 0-29: 30 x 100,000 = 3.0M; slices 1-11: 30 x 20,000 = 0.6M each; slice 12: 3.0M; total 12.6M
    expected = [3 / 12.6] + [0.6 / 12.6] * 11 + [3 / 12.6]
    assert vwap_weights(edt_week(), start, spec, alpaca_calendar()) == pytest.approx(expected)
    # 13,000 x (3 + 0.6 k) / 12.6 rounded half up, k = 0..11; then the total
    cum = [3095, 3714, 4333, 4952, 5571, 6190, 6810, 7429, 8048, 8667, 9286, 9905, 13000]
    sched = build_schedule(D(13000), start, spec, edt_week(), alpaca_calendar())
    assert [q for _, q in sched] == [D(c) for c in cum]
    assert [t for t, _ in sched] == [start + timedelta(minutes=30 * k) for k in range(13)]


def test_without_an_exchange_the_profile_stays_on_the_utc_minute():
    history = [(datetime(2026, 3, 2, 14, 30) + timedelta(days=-d, minutes=m), 100.0 if m < 5 else 300.0)
               for d in range(1, 6) for m in range(10)]
    start = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
    spec = SliceSpec("vwap", 600, 2)
    no_exchange = MarketCalendar(timezone="America/New_York")
    assert vwap_weights(history, start, spec, no_exchange) == pytest.approx([0.25, 0.75])
    assert vwap_weights(history, start, spec) == pytest.approx([0.25, 0.75])
