"""Alpaca's extended hours follow each session's close: pre-market from 04:00 New York, after-hours until the
close + 4 h (20:00 on a normal day, 17:00 on an early close such as 2026-11-27 and 2026-12-24), never on a
holiday or weekend. Expectations from exchange-calendars (XNYS) and zoneinfo, not from the code under test."""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import exchange_calendars as xc
import pandas as pd

from engine.market.exchange import alpaca_calendar

NY = ZoneInfo("America/New_York")
XNYS = xc.get_calendar("XNYS")
DAYS = ("2026-03-06", "2026-03-07", "2026-03-09", "2026-11-01", "2026-11-02", "2026-11-26", "2026-11-27",
        "2026-11-28", "2026-12-24", "2026-12-25", "2026-07-03", "2026-04-03")


def oracle(t: datetime) -> bool:
    """04:00 New York to XNYS close + 4 h on an XNYS session."""
    day = t.astimezone(NY).date()
    if not XNYS.is_session(pd.Timestamp(day)):
        return False
    close = XNYS.session_close(pd.Timestamp(day)).to_pydatetime()
    return datetime.combine(day, time(4), tzinfo=NY) <= t < close + timedelta(hours=4)


def test_extended_hours_match_the_xnys_oracle_every_quarter_hour() -> None:
    cal = alpaca_calendar()
    wrong = []
    for day in DAYS:
        start = datetime.fromisoformat(day).replace(tzinfo=UTC)
        for k in range(24 * 4):  # bounded: one UTC day of quarter hours per listed day
            t = start + timedelta(minutes=15 * k)
            if cal.in_extended_hours(t) != oracle(t):
                wrong.append(t.astimezone(NY).isoformat())
    assert wrong == []


def test_early_close_ends_after_hours_at_17_00_new_york() -> None:
    cal = alpaca_calendar()
    for day in (date(2026, 11, 27), date(2026, 12, 24)):  # XNYS closes 13:00 (checked against the oracle)
        assert XNYS.session_close(pd.Timestamp(day)).to_pydatetime().astimezone(NY).time() == time(13)
        window = cal.extended_hours(day)
        assert window is not None
        assert window[0].astimezone(NY) == datetime.combine(day, time(4), tzinfo=NY)
        assert window[1].astimezone(NY) == datetime.combine(day, time(17), tzinfo=NY)
        last = datetime.combine(day, time(16, 59), tzinfo=NY)
        assert cal.in_extended_hours(last) and not cal.in_extended_hours(last + timedelta(minutes=1))
        assert not cal.in_extended_hours(datetime.combine(day, time(18, 30), tzinfo=NY))


def test_normal_days_keep_04_00_to_20_00_and_holidays_have_none() -> None:
    cal = alpaca_calendar()
    window = cal.extended_hours(date(2026, 11, 25))
    assert window is not None and [w.astimezone(NY).time() for w in window] == [time(4), time(20)]
    assert cal.extended_hours(date(2026, 11, 26)) is None  # Thanksgiving
    assert cal.extended_hours(date(2026, 11, 28)) is None  # Saturday
