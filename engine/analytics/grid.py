"""A regular grid for returns of an irregularly sampled equity curve (the live account's snapshots).

The account job writes a snapshot every few seconds while the engine runs and none while it is stopped, so
the spacing between snapshots says nothing about a return period. Returns are measured instead as
quantstats/empyrical users expect: one return per period of a regular grid, close to close, annualised by
the number of such periods in a year (periods.py conventions):

- the grid is chosen by how much history there is: DAILY closes once the snapshots cover
  DAILY_MIN_SESSIONS trading sessions (the market's trading days a year: 252 for an exchange, 365 for a
  market that trades every day); HOURLY closes once they cover HOURLY_MIN_HOURS clock hours (days x the clock
  hours a session touches, ceil(session minutes / 60), a year: 252 x 7 for XNYS's 390 minutes, 365 x 24 round
  the clock); MINUTE closes before that (days x session minutes a year);
- periods are counted in the market's timezone: a day is a trading day there (with an exchange calendar a
  weekend or holiday snapshot belongs to the next session, as the daily-loss day does), an hour a clock hour
  there (the same as a UTC hour unless the zone's offset is not whole hours); with an exchange calendar the
  intraday grids keep only the regular session's hours (minutes): a snapshot outside it (after hours, night,
  weekend, holiday) counts for the next session's first period, as the daily grid folds a weekend into Monday,
  so the closes are the session periods the factor (days x session periods) counts;
- the close of a period is the last snapshot in it; the first snapshot is kept as the opening equity, so the
  first return runs from it to the close of its period and the returns compound to the range's total return;
- periods without a snapshot are LEFT OUT, not forward-filled: an empty period means the engine was not
  running, and the store flags missing data rather than inventing it. A forward fill would add zero returns
  that were never observed (an account with open positions still moved), shrinking volatility and inflating
  the count of returns; left out, the return after a gap spans the gap, as a daily series skips a holiday.

A curve that is already regular on the grid (a backtest's bars: one per period) comes back unchanged.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date

import numpy as np
import pandas as pd

from engine.analytics.periods import CALENDAR_DAYS, DAY_MINUTES, TRADING_DAYS, session_minutes
from engine.analytics.round_trips import MetricsError

DAILY_MIN_SESSIONS = 30  # a month of sessions: enough daily returns for a daily volatility
HOURLY_MIN_HOURS = 3  # at least two full hourly returns; shorter histories are measured on minute closes
GRID_MINUTES = {"hourly": 60, "minute": 1}
UNITS = {"daily": "day", "hourly": "hour", "minute": "minute"}
ADJECTIVES = {"daily": "daily", "hourly": "hourly", "minute": "one-minute"}

SessionDay = Callable[[date], date]  # a calendar day -> the trading session it belongs to
# UTC times -> the same times, each outside the exchange's regular session moved to the next session's open
SessionClock = Callable[[pd.DatetimeIndex], pd.DatetimeIndex]


@dataclass(frozen=True)
class ReturnGrid:
    """The grid returns are measured on, and the number of its periods in a year."""

    kind: str  # "daily" | "hourly" | "minute"
    periods_per_year: float
    timezone: str = "UTC"
    session_minutes: float | None = None  # intraday grids: the trading session the factor counts
    days_per_year: float = float(TRADING_DAYS)  # the market's trading days a year (365: it trades every day)
    exchange: str | None = None  # intraday grids on an exchange's regular session only (SessionClock)

    def in_market_year(self, days: float) -> ReturnGrid:
        """The same grid annualised by a market with `days` trading days a year (periods a day kept)."""
        return replace(self, periods_per_year=self.periods_per_year / self.days_per_year * float(days),
                       days_per_year=float(days))

    @property
    def unit(self) -> str:
        return UNITS[self.kind]

    @property
    def adjective(self) -> str:
        return ADJECTIVES[self.kind]

    @property
    def label(self) -> str:
        """'daily closes (America/New_York)': the return frequency in a few words."""
        if self.exchange and self.kind != "daily":
            return f"{self.adjective} closes ({self.timezone}, {self.exchange} regular session)"
        return f"{self.adjective} closes ({self.timezone})"

    @property
    def factor_text(self) -> str:
        """How the annualisation factor was reached, e.g. '252 x 1440 session minutes / 60 = 6048'."""
        days = f"{self.days_per_year:g}"
        if self.kind == "daily":
            return f"{days} trading days" + (" (the market trades every day)" if self.days_per_year == CALENDAR_DAYS else "")
        minutes, step = float(self.session_minutes or 0.0), GRID_MINUTES[self.kind]
        if minutes % step == 0:
            return f"{days} x {minutes:g} session minutes / {step} = {self.periods_per_year:g}"
        return (f"{days} x ceil({minutes:g} session minutes / {step}) = {days} x "
                f"{self.periods_per_year / self.days_per_year:g} {self.unit}s a session touches = {self.periods_per_year:g}")

    def describe(self) -> str:
        """The definition shown beside the metrics: what one return is and how it is annualised."""
        period = {"daily": f"trading day in {self.timezone}", "hourly": f"clock hour in {self.timezone}",
                  "minute": "minute"}[self.kind]
        if self.exchange and self.kind != "daily":
            period = (f"{self.unit} of the {self.exchange} regular session in {self.timezone}; a snapshot outside "
                      f"the session counts for the next session's first {self.unit}")
        return (f"Returns are {self.adjective} simple returns of account equity, close to close: the close of a "
                f"period is the last account snapshot in it (one period = one {period}, market time); "
                f"{self.unit}s without a snapshot (engine stopped) are left out, not filled, so the return after a "
                f"gap spans it; the first return runs from the range's first snapshot. Annualised by "
                f"{self.periods_per_year:g} {self.adjective} returns a year ({self.factor_text}). Grid chosen by history: daily closes from "
                f"{DAILY_MIN_SESSIONS} sessions, hourly from {HOURLY_MIN_HOURS} hours, minute closes below.")


def _naive(index: pd.DatetimeIndex, timezone: str) -> pd.DatetimeIndex:
    """Wall-clock times in `timezone`, as naive timestamps (a naive input is UTC)."""
    aware = index.tz_localize("UTC") if index.tz is None else index
    return aware.tz_convert(timezone).tz_localize(None).as_unit("ns")  # asi8 below counts nanoseconds


def period_keys(index: pd.DatetimeIndex, kind: str, timezone: str = "UTC",
                session_day: SessionDay | None = None, session_clock: SessionClock | None = None) -> np.ndarray:
    """One int64 key per timestamp naming its period of the grid (equal keys: the same period).

    daily: the trading day in `timezone` (`session_day` maps a calendar day to its session, e.g. Saturday to
    Monday; without it every calendar day is its own); hourly/minute: the UTC instant the period starts at,
    the period being a clock hour/minute in `timezone` (`session_clock`: of the time moved into the exchange's
    session, so an out-of-session snapshot falls in the next session's first period)."""
    index = pd.DatetimeIndex(index)
    if kind != "daily" and session_clock is not None and len(index):
        index = pd.DatetimeIndex(session_clock(index))
    local = _naive(index, timezone).asi8
    if kind == "daily":
        days = local // (86_400 * 10**9)
        if session_day is None:
            return days
        unique = np.unique(days)
        epoch = date(1970, 1, 1)
        mapped = {d: (session_day(date.fromordinal(epoch.toordinal() + int(d))) - epoch).days for d in unique}
        return np.array([mapped[d] for d in days], dtype="int64")
    step = GRID_MINUTES[kind] * 60 * 10**9
    utc = _naive(index, "UTC").asi8
    return utc - local % step  # the UTC instant the local period began


def close_mask(index: pd.DatetimeIndex, grid: ReturnGrid, session_day: SessionDay | None = None,
               opening: bool = True, session_clock: SessionClock | None = None) -> np.ndarray:
    """True at the close of every period with a snapshot (its last one) and, with `opening`, at the first snapshot
    (the opening equity; False: the caller has the opening from before these snapshots). `index` must be in
    increasing order."""
    keys = period_keys(index, grid.kind, grid.timezone, session_day, session_clock)
    if len(keys) == 0:
        return np.zeros(0, dtype=bool)
    mask = np.append(keys[1:] != keys[:-1], True)
    mask[0] = mask[0] or opening
    return mask


def choose_grid(index: pd.DatetimeIndex, timezone: str = "UTC", session_mins: float | None = None,
                session_day: SessionDay | None = None, session_clock: SessionClock | None = None,
                exchange: str | None = None) -> ReturnGrid:
    """The grid for snapshots at these times (see the module docstring). `session_mins`: the market's session
    when known (the simulated market: a day), else read from the times (periods.session_minutes);
    `session_clock`/`exchange`: intraday periods of that exchange's regular session only (session hours
    counted towards HOURLY_MIN_HOURS)."""
    index = pd.DatetimeIndex(index)
    if len(np.unique(period_keys(index, "daily", timezone, session_day))) >= DAILY_MIN_SESSIONS:
        return ReturnGrid("daily", float(TRADING_DAYS), timezone)
    session = float(session_mins) if session_mins is not None else session_minutes(index)
    session = min(max(session, 1.0), float(DAY_MINUTES))
    hours = period_keys(index, "hourly", timezone, session_clock=session_clock)
    kind = "hourly" if len(np.unique(hours)) >= HOURLY_MIN_HOURS else "minute"
    return ReturnGrid(kind, float(TRADING_DAYS * periods_in_session(session, GRID_MINUTES[kind])), timezone, session,
                      exchange=exchange if session_clock is not None else None)


def periods_in_session(session: float, minutes: int) -> int:
    """The grid periods of `minutes` a session of `session` minutes has a close in: ceil(session / minutes),
    the session counted from a period boundary. A 09:30-16:00 XNYS session (390 minutes) touches the 7 clock
    hours 9..15, and 7 hourly closes are measured per session, as a backtest on hourly bars of those sessions
    counts 7 bars (periods.py); 390 / 60 = 6.5 would annualise 7 measured returns by 6.5 a session. (A session
    that opens mid-period and ends past another boundary, e.g. 09:45-10:15, touches one period more than
    this counts: no exchange's regular session does.)"""
    return max(1, math.ceil(round(session / minutes, 9)))


def on_grid(equity: pd.Series, grid: ReturnGrid, session_day: SessionDay | None = None,
            session_clock: SessionClock | None = None) -> pd.Series:
    """The opening equity and the close of every period with a snapshot, indexed by the snapshots' own times."""
    if len(equity) and not pd.DatetimeIndex(equity.index).is_monotonic_increasing:
        raise MetricsError("equity: timestamps are not in increasing order")
    return equity[close_mask(pd.DatetimeIndex(equity.index), grid, session_day, session_clock=session_clock)]
