"""How many bars make a year, inferred from the bar spacing in market time.

Annualised figures (CAGR, volatility, Sharpe, Sortino, Calmar) need the number of return periods in a
trading year. Conventions used here, as in empyrical:
- daily bars: 252 trading days a year; weekly bars 52; monthly bars 12;
- intraday bars: 252 sessions a year times the bars in one session, i.e. 252 x session minutes / bar
  minutes (a US equity session of 390 minutes with one-minute bars gives 98,280).
The session length is taken from the data when not given: the median number of bars per calendar day
(UTC) times the bar spacing, capped at 24 hours, so a market that trades round the clock (the simulated
market) counts 1,440 one-minute bars a session and an exchange's regular session about 390.
"""
from __future__ import annotations

import pandas as pd

TRADING_DAYS = 252
WEEKS, MONTHS = 52, 12
DAY_MINUTES = 24 * 60


def bar_minutes(index: pd.DatetimeIndex) -> float:
    """The median spacing between bars, in minutes (NaN with fewer than two bars)."""
    if len(index) < 2:
        return float("nan")
    return float(pd.Series(index).diff().dropna().median() / pd.Timedelta(minutes=1))


def session_minutes(index: pd.DatetimeIndex) -> float:
    """The length of a session seen in the data: median bars per UTC calendar day x bar spacing, at most a day."""
    spacing = bar_minutes(index)
    per_day = pd.Series(1, index=index).groupby(pd.DatetimeIndex(index).normalize()).size()
    return float(min(DAY_MINUTES, float(per_day.median()) * spacing))


def infer_periods_per_year(index: pd.DatetimeIndex, session_mins: float | None = None) -> float:
    """Return periods a year for bars at these times (see the module docstring for the conventions)."""
    spacing = bar_minutes(index)
    if spacing != spacing or spacing <= 0:  # NaN: one bar, nothing to annualise; default to daily
        return float(TRADING_DAYS)
    if spacing >= 25 * DAY_MINUTES:
        return float(MONTHS)
    if spacing >= 5 * DAY_MINUTES:
        return float(WEEKS)
    if spacing >= 20 * 60:  # daily bars (weekends and holidays make some gaps longer; the median ignores them)
        return float(TRADING_DAYS)
    minutes = session_mins if session_mins is not None else session_minutes(index)
    return float(TRADING_DAYS * max(minutes, spacing) / spacing)
