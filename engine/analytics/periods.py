"""How many bars make a year, inferred from the bar spacing in market time.

Annualised figures (CAGR, volatility, Sharpe, Sortino, Calmar) need the number of return periods in a
trading year. Conventions used here, as in empyrical:
- the market's trading days a year follow its calendar: 252 sessions for an exchange (XNYS), 365 days for a
  market that trades every day (the simulated market, crypto). Callers that know the market pass it; otherwise
  a market with bars on both a Saturday and a Sunday (UTC) trades every day (an exchange's Monday-Friday
  sessions touch at most one weekend day in UTC: Sunday for Asia-Pacific, Saturday for late American hours);
- daily bars: the trading days a year; weekly bars 52; monthly bars 12;
- intraday bars: the trading days a year times the bars in one session, i.e. days x session minutes / bar
  minutes (a US equity session of 390 minutes with one-minute bars gives 252 x 390 = 98,280; ten-minute bars
  of a market that trades round the clock every day give 365 x 144 = 52,560).
The session length is a property of the market, so callers that know the market pass it (the live
Performance page: the simulated market trades round the clock). Otherwise it is read from the data,
never from where a date range happens to cut it:
- bars without a break longer than BREAK_MINUTES (or four bar spacings) anywhere are a market that trades
  round the clock: 1,440 minutes (the simulated market; crypto);
- otherwise the breaks delimit the sessions, and the fullest one seen (its bars x the bar spacing) is
  the session, capped at 24 hours: an exchange's regular session, 390 minutes for US equities, even
  when the first and last sessions of the data are partial (a lunch break is not traded, so not counted).
A stretch shorter than a session with no break in it cannot tell the two apart; it counts as round the
clock, so the backtest reads the session from the whole data set, not from the run's range.
"""
from __future__ import annotations

import pandas as pd

TRADING_DAYS = 252
CALENDAR_DAYS = 365  # a market that trades every day of the week
WEEKS, MONTHS = 52, 12
DAY_MINUTES = 24 * 60
BREAK_MINUTES = 120.0  # a pause longer than this (and than four bars) ends a session; lunch breaks do not


def bar_minutes(index: pd.DatetimeIndex) -> float:
    """The median spacing between bars, in minutes (NaN with fewer than two bars)."""
    if len(index) < 2:
        return float("nan")
    return float(pd.Series(index).diff().dropna().median() / pd.Timedelta(minutes=1))


def bar_frequency(index: pd.DatetimeIndex) -> str:
    """The bars' spacing in words, as the annualisation reads it: 'daily bars', '5-minute bars', ..."""
    spacing = bar_minutes(index)
    if spacing != spacing or spacing <= 0:
        return "a single bar"
    if spacing >= 25 * DAY_MINUTES:
        return "monthly bars"
    if spacing >= 5 * DAY_MINUTES:
        return "weekly bars"
    if spacing >= 20 * 60:
        return "daily bars"
    return f"{spacing:g}-minute bars"


def session_minutes(index: pd.DatetimeIndex) -> float:
    """The length of a trading session seen in the data (see the module docstring), at most a day."""
    spacing = bar_minutes(index)
    if spacing != spacing or spacing <= 0:
        return float(DAY_MINUTES)
    minutes = (pd.Series(pd.DatetimeIndex(index).sort_values()) - pd.Timestamp(0, tz=index.tz)) / pd.Timedelta(minutes=1)
    gaps = minutes.diff()
    starts = gaps > max(BREAK_MINUTES, 4 * spacing)
    if not starts.any():
        return float(DAY_MINUTES)
    bars_per_session = starts.cumsum().value_counts()
    return float(min(DAY_MINUTES, float(bars_per_session.max()) * spacing))


def days_per_year(index: pd.DatetimeIndex) -> float:
    """The market's trading days a year read from its bars: 365 with bars on both a Saturday and a Sunday
    (UTC), else 252 (see the module docstring)."""
    stamps = pd.DatetimeIndex(index)
    if stamps.tz is not None:
        stamps = stamps.tz_convert("UTC")
    return float(CALENDAR_DAYS if {5, 6} <= set(stamps.day_of_week) else TRADING_DAYS)


def infer_periods_per_year(index: pd.DatetimeIndex, session_mins: float | None = None,
                           days: float | None = None) -> float:
    """Return periods a year for bars at these times (see the module docstring for the conventions).
    `days`: the market's trading days a year when known, else read from the bars (days_per_year)."""
    year = float(days) if days is not None else days_per_year(index)
    spacing = bar_minutes(index)
    if spacing != spacing or spacing <= 0:  # NaN: one bar, nothing to annualise; default to daily
        return year
    if spacing >= 25 * DAY_MINUTES:
        return float(MONTHS)
    if spacing >= 5 * DAY_MINUTES:
        return float(WEEKS)
    if spacing >= 20 * 60:  # daily bars (weekends and holidays make some gaps longer; the median ignores them)
        return year
    minutes = session_mins if session_mins is not None else session_minutes(index)
    return float(year * max(minutes, spacing) / spacing)
