"""The live account's equity on a regular grid (engine/analytics/grid.py), read from the store without
loading every snapshot.

A year of snapshots every few seconds is millions of rows. The grid's periods (market-time days, clock hours,
minutes) all begin on a UTC quarter hour, whatever the market's timezone (every zone's offset is a multiple
of 15 minutes), so the last snapshot of each UTC quarter hour (one SQL GROUP BY) contains the last snapshot of
every period: the closes picked from these points are exactly those over every snapshot. The minute grid
(histories of a few hours) reads the last snapshot of each UTC minute instead.

The store read itself is engine/store/performance_queries.account_points.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy.orm import Session

from engine.analytics.grid import ReturnGrid, SessionDay, choose_grid, close_mask
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


def grid_equity(session: Session, start: datetime | None, end: datetime | None,
                calendar: MarketCalendar | None = None, session_mins: float | None = None,
                reader: Callable[[Session, datetime | None, datetime | None, int], pd.DataFrame] = account_points,
                ) -> GridEquity | None:
    """The grid chosen for the range's history and the equity on it; None without a snapshot in range. A range
    that starts mid-history opens with the last snapshot before its start (its first return is measured from
    there, as the daily P&L's first day is), else with its own first snapshot."""
    timezone = calendar.timezone if calendar is not None else "UTC"
    day_of = session_day_of(calendar)
    points = reader(session, start, end, QUARTER_HOUR)
    if points.empty:
        return None
    grid = choose_grid(pd.DatetimeIndex(points["ts"]), timezone, session_mins, day_of)
    if grid.kind == "minute":  # a short history: its minutes, not its quarter hours
        points = reader(session, start, end, MINUTE)
        if session_mins is None:  # the session read from minute points, as periods.py reads bars
            grid = choose_grid(pd.DatetimeIndex(points["ts"]), timezone, None, day_of)
    before = point_before(session, start) if start is not None else points.iloc[:0]
    mask = close_mask(pd.DatetimeIndex(points["ts"]), grid, day_of, opening=before.empty)
    kept = points[mask] if before.empty else pd.concat([before, points[mask]], ignore_index=True)
    index = pd.DatetimeIndex(kept["ts"])
    return GridEquity(grid=grid, equity=pd.Series(kept["equity"].to_numpy(), index=index),
                      gross=pd.Series(kept["gross_exposure"].to_numpy(), index=index))
