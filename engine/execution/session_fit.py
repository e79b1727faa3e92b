"""Fitting a sliced parent into the exchange's regular session (XNYS for the Alpaca source).

A parent scheduled through the close had its later children refused by the closed market and was left half
executed (an exit half done overnight). With an exchange calendar a parent therefore fits the session it starts in:

- its end (the final sweep at market) is at most CLOSE_MARGIN before that session's close, 16:00 or the 13:00
  of an early close: a longer duration is shortened to end there, and the parent's note says so;
- with less than MIN_WINDOW left before that end (the last 10 minutes of the session) there is no time to slice:
  an exit (it only shrinks the position) goes as one order at market now, because a trader who asked to get out
  wants out before the close rather than a position held overnight; an entry is refused (ParentRefused), because
  nobody who asked for a slow, spread-out entry expects one market order in the closing minutes;
- outside the regular session (before the open, after the close, a holiday) nothing can be worked: refused.

A source without an exchange (the simulated market trades around the clock) is not touched.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from engine.market.exchange import MarketCalendar, calendar_for_settings

from .slicing import SliceError, SliceSpec

CLOSE_MARGIN = timedelta(minutes=5)  # the final sweep this long before the close: a minute tick or two to spare
MIN_WINDOW = timedelta(minutes=5)  # less working time than this before the sweep: no slicing
MIN_STEP_S = 60.0  # a shortened schedule keeps at most one slice a minute (the Alpaca source's bars are 1-minute)


class ParentRefused(SliceError):
    """A sliced order that cannot be worked in the session now; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class SessionFit:
    spec: SliceSpec  # the spec to schedule (shortened when it ran past the close)
    note: str | None  # what changed, for the parent's note, its audit and the caller; None when nothing did
    one_order: bool = False  # too little session left: the whole quantity goes as one market order now


def exchange_calendar(ctx: object) -> MarketCalendar | None:
    """The market source's exchange calendar (engine/regime_stage.py reads it the same way); a web process has no
    source and reads the configured one. None for a source without an exchange (trades around the clock)."""
    source = getattr(ctx, "source", None)
    calendar = getattr(source, "calendar", None) if source is not None else None
    if calendar is None and source is None and getattr(ctx, "settings", None) is not None:
        calendar = calendar_for_settings(getattr(ctx, "settings", None), None)
    return calendar if isinstance(calendar, MarketCalendar) and calendar.exchange is not None else None


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def session_hours(calendar: MarketCalendar, at: datetime) -> tuple[datetime, datetime] | None:
    """(open, close) of the regular session `at` lies in; None outside every session."""
    at = _utc(at)
    hours = calendar.regular_hours(at.astimezone(ZoneInfo(calendar.timezone)).date())
    return hours if hours is not None and hours[0] <= at < hours[1] else None


def sweep_deadline(calendar: MarketCalendar, at: datetime) -> datetime | None:
    """The latest moment of the final sweep for a parent working at `at`: CLOSE_MARGIN before today's close."""
    hours = session_hours(calendar, at)
    return None if hours is None else hours[1] - CLOSE_MARGIN


def _local(calendar: MarketCalendar, ts: datetime) -> str:
    return _utc(ts).astimezone(ZoneInfo(calendar.timezone)).strftime("%H:%M %Z")


def fit_to_session(calendar: MarketCalendar | None, at: datetime, spec: SliceSpec, exit_only: bool) -> SessionFit:
    """The spec a parent created at `at` is worked with (see the module's rules); raises ParentRefused."""
    if calendar is None:
        return SessionFit(spec, None)
    hours = session_hours(calendar, at)
    zone = f"{calendar.exchange} ({calendar.timezone})"
    if hours is None:
        raise ParentRefused(f"the {zone} regular session is closed at {_local(calendar, at)}: a sliced order is "
                            "worked only inside the session; send it again after the open")
    close = hours[1]
    deadline = close - CLOSE_MARGIN
    left = deadline - _utc(at)
    if left < MIN_WINDOW:
        minutes = max(0, int((close - _utc(at)).total_seconds() // 60))
        why = (f"only {minutes} min of the session left (close {_local(calendar, close)}); no time to slice "
               f"before the final sweep {int(CLOSE_MARGIN.total_seconds() // 60)} min before the close")
        if not exit_only:
            raise ParentRefused(f"{why}: a sliced entry is not sent; send it in the next session")
        return SessionFit(replace(spec, duration_s=1.0, slices=1), f"{why}: sent as one market order now", True)
    if spec.duration_s <= left.total_seconds():
        return SessionFit(spec, None)
    duration = left.total_seconds()
    slices = max(1, min(spec.slices, int(duration // MIN_STEP_S)))
    return SessionFit(replace(spec, duration_s=duration, slices=slices),
                      f"shortened from {spec.duration_s / 60:g} to {duration / 60:g} min ({slices} slices): the "
                      f"session closes {_local(calendar, close)}; the rest is swept at {_local(calendar, deadline)}")
