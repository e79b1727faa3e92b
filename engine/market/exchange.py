"""Which exchange a market source trades on, its timezone and its sessions.

Every market source knows its exchange: Alpaca's US equities trade on the NYSE calendar (XNYS,
America/New_York, read from exchange-calendars); the simulated market and CSV replay have no
exchange, only a timezone (``REGIMEDESK_MARKET_TIMEZONE``, else the workbook's
MasterConfiguration market_timezone). The calendar decides:

- the trading day of the daily-loss limit: the date in the exchange's timezone, and on a day
  without a session (weekend, holiday) the next session's date, so Saturday, Sunday and a holiday
  belong to the following session and the day rolls at the exchange's midnight;
- whether Alpaca may be sent orders now (regular session, or on a session day from 04:00 New York time
  to 4 hours after the close for extended-hours limit orders: 20:00, 17:00 on an early-close day).

The web process has no market source, so it reads the same answer from the settings
(``calendar_for_settings``).
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from engine.params.typed import Parameters

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

log = logging.getLogger(__name__)

ALPACA_EXCHANGE = "XNYS"
EXTENDED_OPEN = time(4, 0)  # Alpaca's pre-market opens 04:00 New York time
AFTER_HOURS = timedelta(hours=4)  # and after-hours ends 4 h after the close (20:00; 17:00 on an early close)
EXTENDED_WORDS = "04:00 until 4 h after the close, 20:00 or 17:00 on an early close"


@functools.lru_cache(maxsize=4)
def _calendar(code: str) -> Any:
    import exchange_calendars as xc

    return xc.get_calendar(code)


def _utc(now: datetime) -> datetime:
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


@functools.lru_cache(maxsize=4096)
def _session_hours(exchange: str, day: date) -> tuple[datetime, datetime] | None:
    """(open, close) in UTC of `exchange`'s session on `day` (a session day), cached: the regime asks per bar."""
    import pandas as pd

    cal = _calendar(exchange)
    try:
        return (cal.session_open(pd.Timestamp(day)).to_pydatetime(), cal.session_close(pd.Timestamp(day)).to_pydatetime())
    except Exception:  # noqa: BLE001 - outside the calendar's range
        return None


@dataclass(frozen=True, slots=True)
class MarketCalendar:
    """An exchange (or none) and the timezone its trading day is counted in; ``decided_by`` says where it came from."""

    timezone: str
    exchange: str | None = None
    decided_by: str = ""

    def __post_init__(self) -> None:
        ZoneInfo(self.timezone)  # raises for an unknown zone name

    @property
    def label(self) -> str:
        return f"{self.exchange} ({self.timezone})" if self.exchange else self.timezone

    def _session_on_or_after(self, day: date) -> date:
        if self.exchange is None:
            return day
        import pandas as pd

        cal = _calendar(self.exchange)
        stamp = pd.Timestamp(day)
        if stamp < cal.first_session or stamp > cal.last_session:
            while day.weekday() >= 5:  # outside the calendar's range: weekends only
                day += timedelta(days=1)
            return day
        return cal.date_to_session(stamp, direction="next").date()

    def trading_day(self, now: datetime) -> str:
        """ISO date of the trading day ``now`` belongs to (a naive ``now`` is UTC)."""
        local = _utc(now).astimezone(ZoneInfo(self.timezone)).date()
        return self._session_on_or_after(local).isoformat()

    def session_days(self, times: pd.Series) -> pd.Series:
        """``trading_day`` of each aware time ('YYYY-MM-DD'), read once per local date: daily P&L counts the
        days the daily-loss limit counts (an after-hours or weekend snapshot belongs to its session)."""
        local = times.dt.tz_convert(self.timezone).dt.strftime("%Y-%m-%d")
        zone = ZoneInfo(self.timezone)
        days = {d: self.trading_day(datetime.combine(date.fromisoformat(d), time(12), tzinfo=zone))
                for d in local.unique()}
        return local.map(days)

    def is_session_day(self, day: date) -> bool:
        return self._session_on_or_after(day) == day

    def regular_hours(self, day: date) -> tuple[datetime, datetime] | None:
        """(open, close) in UTC of the session on ``day``, or None when there is none (or no exchange)."""
        if self.exchange is None or not self.is_session_day(day):
            return None
        return _session_hours(self.exchange, day)

    def is_regular_open(self, now: datetime) -> bool:
        hours = self.regular_hours(_utc(now).astimezone(ZoneInfo(self.timezone)).date())
        return hours is not None and hours[0] <= _utc(now) < hours[1]

    def regular_session_mask(self, times: pd.Series) -> np.ndarray:
        """For each bar (its open time, aware), whether it lies in its day's regular session; all True without an
        exchange (the simulated market trades around the clock). The regime classifies regular-session bars only:
        Alpaca's minute bars include pre-market and after-hours trades, which made a "session" start at 07:00 and
        put thin after-hours prints into the previous session's pivots."""
        import numpy as np

        if self.exchange is None or len(times) == 0:
            return np.ones(len(times), dtype=bool)
        days = times.dt.tz_convert(self.timezone).dt.date.to_numpy()
        stamps = times.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
        out = np.zeros(len(times), dtype=bool)
        for day in set(days.tolist()):
            hours = self.regular_hours(day)
            if hours is None:
                continue
            on_day = days == day
            opens, closes = (np.datetime64(h.astimezone(UTC).replace(tzinfo=None), "ns") for h in hours)
            out[on_day] = (stamps[on_day] >= opens) & (stamps[on_day] < closes)
        return out

    def extended_hours(self, day: date) -> tuple[datetime, datetime] | None:
        """(04:00 exchange time, close + 4 h) in UTC of the session on ``day``, or None: Alpaca's after-hours
        follows the day's close, so an early close (13:00) ends it at 17:00, not 20:00. Both brokers use it."""
        hours = self.regular_hours(day)
        if hours is None:
            return None
        start = datetime.combine(day, EXTENDED_OPEN, tzinfo=ZoneInfo(self.timezone)).astimezone(UTC)
        return start, hours[1] + AFTER_HOURS

    def in_extended_hours(self, now: datetime) -> bool:
        """Inside ``extended_hours`` of today's session (pre-market, session and after-hours); never on a
        holiday or weekend."""
        at = _utc(now)
        window = self.extended_hours(at.astimezone(ZoneInfo(self.timezone)).date())
        return window is not None and window[0] <= at < window[1]

    def agrees_with(self, workbook_timezone: str | None) -> bool:
        """Same wall clock as the workbook's timezone (two names of one zone agree)."""
        if not workbook_timezone:
            return True
        if workbook_timezone == self.timezone:
            return True
        try:
            probe = [datetime(2026, 1, 15, 12, tzinfo=UTC), datetime(2026, 7, 15, 12, tzinfo=UTC)]
            return all(p.astimezone(ZoneInfo(workbook_timezone)).utcoffset() == p.astimezone(ZoneInfo(self.timezone)).utcoffset()
                       for p in probe)
        except Exception:  # noqa: BLE001 - an unknown name never agrees
            return False


def alpaca_calendar() -> MarketCalendar:
    return MarketCalendar(timezone="America/New_York", exchange=ALPACA_EXCHANGE,
                          decided_by="Alpaca US equities trade on the NYSE calendar (XNYS)")


def calendar_for_settings(settings: Any, workbook_timezone: str | None) -> MarketCalendar:
    """The market calendar of the configured source: Alpaca -> XNYS; simulated/CSV -> the configured timezone."""
    source = str(getattr(getattr(settings, "market_source", None), "value", getattr(settings, "market_source", "")))
    if source == "alpaca":
        return alpaca_calendar()
    configured = getattr(settings, "market_timezone", None)
    if configured:
        return MarketCalendar(timezone=str(configured), decided_by="REGIMEDESK_MARKET_TIMEZONE")
    if workbook_timezone:
        return MarketCalendar(timezone=str(workbook_timezone), decided_by="the workbook's MasterConfiguration market_timezone")
    return MarketCalendar(timezone="UTC", decided_by="default (no timezone configured)")


def timezone_warning(calendar: MarketCalendar, workbook_timezone: str | None) -> str | None:
    """A sentence for the Health and Parameters pages when the workbook's timezone disagrees with the source's exchange."""
    if calendar.agrees_with(workbook_timezone):
        return None
    return (f"The workbook's MasterConfiguration market_timezone is {workbook_timezone}, but the market source trades "
            f"on {calendar.label} ({calendar.decided_by}). The daily-loss day and the market clock follow "
            f"{calendar.timezone}; the regime engine's intraday slots still read the workbook's zone. "
            f"Set market_timezone to {calendar.timezone} in the workbook to make them agree.")


def settings_calendar_and_warning(settings: Any, params: Any) -> tuple[MarketCalendar, str | None]:
    """For pages: the calendar of the configured source and the warning (None when the timezones agree)."""
    wb_tz = None
    try:
        wb_tz = Parameters(params).master_configuration.market_timezone
    except Exception:  # noqa: BLE001 - no active parameters yet
        wb_tz = None
    cal = calendar_for_settings(settings, wb_tz)
    return cal, timezone_warning(cal, wb_tz)


def regular_session_bars(frame: pd.DataFrame, calendar: MarketCalendar | None) -> pd.DataFrame:
    """The rows of a bar frame (a "timestamp" column) inside the regular session (MarketCalendar.regular_session_mask);
    the frame as it is without a calendar or an exchange."""
    if calendar is None or calendar.exchange is None or frame.empty:
        return frame
    import pandas as pd

    times = pd.to_datetime(frame["timestamp"], utc=True)  # SQLite hands back naive UTC times
    return frame.loc[calendar.regular_session_mask(times)].reset_index(drop=True)
