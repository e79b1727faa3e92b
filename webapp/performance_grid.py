"""The live account's equity on a regular grid (engine/analytics/grid.py), read from the store without
loading every snapshot.

A year of snapshots every few seconds is millions of rows. The grid's periods (market-time days, clock hours,
minutes) all begin on a UTC quarter hour, whatever the market's timezone (every zone's offset is a multiple
of 15 minutes), so the last snapshot of each UTC quarter hour (one SQL GROUP BY) contains the last snapshot of
every period: the closes picked from these points are exactly those over every snapshot. The minute grid
(histories of a few hours) reads the last snapshot of each UTC minute instead. With an exchange calendar the
intraday periods are its regular session's (session_clock_of: XNYS opens and closes on quarter hours too).

Snapshots can share a time (the simulated market's clock stands still within a tick, and the engine syncs
twice at start-up): the last one at a time is its equity, so a tie keeps the last row.

The store read itself is engine/store/performance_queries.account_points.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from engine.analytics.grid import ReturnGrid, SessionClock, SessionDay, choose_grid, close_mask
from engine.market.exchange import MarketCalendar
from engine.store.performance_queries import account_points, point_before

QUARTER_HOUR = 900
MINUTE = 60


@dataclass(frozen=True)
class GridEquity:
    """The equity (and gross exposure) at the opening snapshot and at every period's close."""

    grid: ReturnGrid
    equity: pd.Series
    gross: pd.Series


def session_day_of(calendar: MarketCalendar | None) -> SessionDay | None:
    """Calendar day -> its trading session (weekends and holidays go to the next one), for an exchange."""
    if calendar is None or calendar.exchange is None:
        return None
    zone = ZoneInfo(calendar.timezone)

    def session_day(day: date) -> date:
        return date.fromisoformat(calendar.trading_day(datetime.combine(day, time(12), tzinfo=zone)))
    return session_day


def _ns(moment: datetime) -> int:
    return int(pd.Timestamp(moment).as_unit("ns").value)


def session_clock_of(calendar: MarketCalendar | None) -> SessionClock | None:
    """UTC times -> themselves inside the exchange's regular session, else the next session's open (a time
    before the day's open: that open; after the close, or on a weekend or holiday: the next session's), for an
    exchange; a day outside the exchange calendar's range keeps its times."""
    if calendar is None or calendar.exchange is None:
        return None
    zone = ZoneInfo(calendar.timezone)

    def next_open(day: date) -> int | None:
        nxt = date.fromisoformat(calendar.trading_day(datetime.combine(day + timedelta(days=1), time(12), tzinfo=zone)))
        hours = calendar.regular_hours(nxt)
        return _ns(hours[0]) if hours is not None else None

    def to_session(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
        aware = index.tz_localize(UTC) if index.tz is None else index.tz_convert(UTC)
        stamps = aware.as_unit("ns").asi8.copy()
        days = np.array(aware.tz_convert(zone).date)
        out = stamps.copy()  # a session day outside the exchange calendar's range keeps its times
        for day in set(days.tolist()):
            on_day, hours, later = days == day, calendar.regular_hours(day), next_open(day)
            t = stamps[on_day]
            after = t if later is None else np.full(len(t), later)
            if hours is not None:  # before the open: the open; in session: itself; after the close: the next open
                out[on_day] = np.where(t < _ns(hours[1]), np.maximum(t, _ns(hours[0])), after)
            elif not calendar.is_session_day(day):  # weekend or holiday: the next session's open
                out[on_day] = after
        return pd.DatetimeIndex(pd.to_datetime(out, utc=True))
    return to_session


def grid_equity(session: Session, start: datetime | None, end: datetime | None,
                calendar: MarketCalendar | None = None, session_mins: float | None = None,
                reader: Callable[[Session, datetime | None, datetime | None, int], pd.DataFrame] = account_points,
                ) -> GridEquity | None:
    """The grid chosen for the range's history and the equity on it; None without a snapshot in range. A range
    that starts mid-history opens with the last snapshot before its start (its first return is measured from
    there, as the daily P&L's first day is), else with its own first snapshot. An opening that shares its time
    with the first close is dropped (the last snapshot at a time is the equity then)."""
    timezone = calendar.timezone if calendar is not None else "UTC"
    day_of, clock = session_day_of(calendar), session_clock_of(calendar)
    exchange = calendar.exchange if calendar is not None else None
    points = reader(session, start, end, QUARTER_HOUR)
    if points.empty:
        return None
    grid = choose_grid(pd.DatetimeIndex(points["ts"]), timezone, session_mins, day_of, clock, exchange)
    if grid.kind == "minute":  # a short history: its minutes, not its quarter hours
        points = reader(session, start, end, MINUTE)
        if session_mins is None:  # the session read from minute points, as periods.py reads bars
            grid = choose_grid(pd.DatetimeIndex(points["ts"]), timezone, None, day_of, clock, exchange)
    before = point_before(session, start) if start is not None else points.iloc[:0]
    mask = close_mask(pd.DatetimeIndex(points["ts"]), grid, day_of, opening=before.empty, session_clock=clock)
    kept = points[mask] if before.empty else pd.concat([before, points[mask]], ignore_index=True)
    kept = kept.drop_duplicates("ts", keep="last")  # rows are in id order: the last snapshot at a time
    index = pd.DatetimeIndex(kept["ts"])
    return GridEquity(grid=grid, equity=pd.Series(kept["equity"].to_numpy(), index=index),
                      gross=pd.Series(kept["gross_exposure"].to_numpy(), index=index))
