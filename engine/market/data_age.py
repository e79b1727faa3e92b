"""How old a wall-clock feed's data is, by its bars' own times and the exchange's sessions.

Why: a poll's arrival time says the poll ran, not that its bars are current (Alpaca arriving 25 minutes behind
looked fresh), and outside the regular session the newest bar is hours old and correct (every price read stale on
a Saturday). So for a source whose bar times are wall-clock times (Alpaca; the market job then records its bar
length, "bar_s", in the MARKET_DATA_KEY stamp) the data dates from its newest bar's end, and it is due:

- during the regular session: up to now, but never from before the session's open (nothing was due while the
  market was closed; the first minute bar arrives after 09:31);
- outside it (nights, weekends, holidays): up to the last session's close, so a bar from its final minutes is
  current until the next open.

The simulated market and CSV replay carry simulated or replayed bar times and record no "bar_s": their callers
keep today's rules for them, unchanged (the halt and Health by the poll's receipt time, the Overview and the risk
book by the market clock).
"""
from __future__ import annotations

import functools
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from engine.market.exchange import MarketCalendar, alpaca_calendar

LOOKBACK_DAYS = 15  # longest run of days without a session the search for the last close walks back over


def aware(ts: datetime) -> datetime:
    """A naive time is UTC (SQLite hands back naive times)."""
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


def recorded_bar_s(stamp: Any, settings: Any = None) -> float | None:
    """The bar length the market job recorded with its stamp (the MARKET_DATA_KEY value) when its source's bar
    times are wall-clock times; None otherwise (the simulated and CSV sources, or no stamp yet). With `settings`,
    also None unless they name Alpaca: a stamp left by an Alpaca engine is not read as a simulated market's."""
    bar_s = stamp.get("bar_s") if isinstance(stamp, dict) else None
    if not isinstance(bar_s, int | float) or isinstance(bar_s, bool) or bar_s < 0:
        return None
    if settings is not None and source_name(settings) != "alpaca":
        return None
    return float(bar_s)


def source_name(settings: Any) -> str:
    """The configured market source's name ("alpaca", "simulated", "csv")."""
    name = getattr(settings, "market_source", "")
    return str(getattr(name, "value", name) or "")


def received_at(stamp: Any) -> datetime | None:
    """When the market job last stored new bars (the stamp's "ts"), if it recorded it."""
    ts = stamp.get("ts") if isinstance(stamp, dict) else None
    return aware(datetime.fromisoformat(ts)) if isinstance(ts, str) and ts else None


def wall_clock_data_at(newest_bar: datetime, bar_s: float, received: datetime | None) -> datetime:
    """When a wall-clock feed's newest data dates from: its newest bar's end (open + bar length), never later than
    the poll that brought it."""
    end = aware(newest_bar) + timedelta(seconds=bar_s)
    return min(end, received) if received is not None else end


def wall_clock_calendar() -> MarketCalendar:
    """The exchange of the one wall-clock source, Alpaca (US equities on XNYS): the risk book and the Overview,
    which see only the stamp's "bar_s", judge by it."""
    return alpaca_calendar()


@functools.lru_cache(maxsize=256)
def _closes_around(calendar: MarketCalendar, day: date) -> tuple[tuple[datetime, datetime] | None, datetime | None]:
    """(`day`'s regular hours or None, the close of the last session before `day`), cached per day: read by the
    risk job every few seconds and by every Overview refresh."""
    before = None
    for back in range(1, LOOKBACK_DAYS + 1):
        hours = calendar.regular_hours(day - timedelta(days=back))
        if hours is not None:
            before = hours[1]
            break
    return calendar.regular_hours(day), before


def due_window(calendar: MarketCalendar | None, now: datetime) -> tuple[datetime | None, datetime]:
    """(from, until): data newer than `from` counts as arriving on time, and data is due up to `until`.
    In the regular session: (its open, now); outside it: (None, the last session's close). Without an exchange
    (or outside the calendar's range): (None, now), plain age."""
    now = aware(now)
    if calendar is None or calendar.exchange is None:
        return None, now
    today, before = _closes_around(calendar, now.astimezone(ZoneInfo(calendar.timezone)).date())
    if today is not None and today[0] <= now < today[1]:
        return today[0], now
    if today is not None and today[1] <= now:
        return None, today[1]
    return None, before if before is not None else now


def data_age_s(calendar: MarketCalendar | None, now: datetime, data_at: datetime) -> float:
    """How old data dating from `data_at` is at `now` (seconds, at least 0), by the session rule above."""
    opened, until = due_window(calendar, now)
    since = aware(data_at) if opened is None else max(aware(data_at), opened)
    return max(0.0, (until - since).total_seconds())
