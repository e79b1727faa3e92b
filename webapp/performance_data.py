"""What the Performance page shows for a date range, built from the store with the shared metrics code.

Return metrics run on a regular grid, as for any return series a quant reads with quantstats/empyrical:
the account's snapshots are irregular (every few seconds while the engine runs, none while it is stopped),
so their equity is resampled to daily closes in the market's timezone (30 sessions of history or more),
else hourly, else minute closes, periods without a snapshot left out, and annualised by that grid's
periods a year (engine/analytics/grid.py; the closes are read exactly, webapp/performance_grid.py). The
metrics code is the backtests' own (compute_metrics, through engine/analytics/solvency.py: an account not
funded yet is measured from its first positive equity, one wiped out has blank return metrics and a note);
the max drawdown is exact over every snapshot (SQL window) from the stored peak, the one the chart shows. The chart and the equity CSV use a sample: the last snapshot of each of at most SAMPLE_POINTS
consecutive-id buckets (every snapshot when there are fewer).
The "from peak" figure uses the risk engine's running peak: the highest equity since the first snapshot,
stored in engine_kv (engine/trading/equity.py), shifted by deposits and withdrawals. The drawdown chart, like
the max drawdown, is drawn on the flow-adjusted (time-weighted) equity, so a withdrawal is no dip; the equity
chart shows the account's real equity with each deposit and withdrawal marked (webapp/performance_grid.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from engine.analytics import definitions_for, round_trips
from engine.analytics.grid import ReturnGrid
from engine.analytics.periods import CALENDAR_DAYS, DAY_MINUTES, TRADING_DAYS, days_per_year
from engine.analytics.solvency import metrics_with_note
from engine.market.exchange import MarketCalendar, settings_calendar_and_warning
from engine.params.versions import active_params
from engine.settings import MarketSourceName, Settings
from engine.store import performance_queries as pq
from engine.store import queries
from engine.trading.equity import read_marks
from webapp.cache import cache
from webapp.context import get_context
from webapp.performance_grid import FLOW_COLUMNS, adjusted_peak_before, flow_sample, grid_equity, range_flows

SAMPLE_POINTS = 10_000
US_EQUITY_SESSION_MINUTES = 390.0  # XNYS regular session, 09:30-16:00 New York
CHART_POINTS = 2_000
FILLS_SHOWN = 500
RISK_FREE = 0.0
MAX_DAYS_BETWEEN_SESSIONS = 14  # longer than any exchange closure (weekend plus holidays)
VIEW_TTL_SECONDS = 20  # a year of history takes about a second to summarise: shared by every tab for this long


@dataclass
class PerformanceView:
    span: pq.AccountRange
    sample: pd.DataFrame  # the snapshots the chart and the equity CSV show (at most SAMPLE_POINTS + 1 rows)
    chart: pd.DataFrame  # ts, equity, peak, drawdown_pct (at most CHART_POINTS rows)
    daily: pd.DataFrame  # day, pnl
    metrics: dict[str, object]
    definitions: dict[str, str]
    trips: pd.DataFrame
    fills: list[dict[str, object]]
    fill_count: int
    commission: float
    stored_peak: float | None
    latest_equity: float | None
    sample_rows: int
    regime_symbol: str | None = None
    notes: list[str] = field(default_factory=list)
    grid: ReturnGrid | None = None  # the regular grid the return metrics were measured on
    grid_equity: pd.Series | None = None  # the opening equity and each period's close, on that grid
    daily_label: str = "market day (UTC)"  # what a daily P&L bar's day is (daily_label)
    flows: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=FLOW_COLUMNS))  # range_flows

    @property
    def drawdown_from_peak(self) -> float | None:
        """(equity - stored peak) / stored peak: the figure the risk engine's drawdown check uses."""
        if self.stored_peak is None or self.latest_equity is None or not self.stored_peak:
            return None
        return self.latest_equity / self.stored_peak - 1.0


def parse_day(value: object) -> date | None:
    """A date picker's value ('YYYY-MM-DD' or an ISO datetime), or None when absent or unreadable."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def day_bounds(start_day: date | None, end_day: date | None,
               calendar: MarketCalendar | None = None) -> tuple[datetime | None, datetime | None]:
    """The UTC instants of the picked days' market days: from the first moment of `start_day` to the last of
    `end_day`, an open side None. Days are the daily P&L's: UTC without a calendar, calendar days in the market's
    timezone without an exchange, and an exchange's session days (trading_day: the night, weekend or holiday
    before a session belongs to it), so a range shows exactly the daily bars of the picked days."""
    zone = ZoneInfo(calendar.timezone) if calendar is not None else UTC
    first = _first_day(start_day, calendar) if start_day else None
    last = _last_day(end_day, calendar) if end_day else None
    start = datetime.combine(first, time(0), tzinfo=zone).astimezone(UTC) if first else None
    end = (datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
           - timedelta(microseconds=1) if last else None)
    return start, end


def _first_day(day: date, calendar: MarketCalendar | None) -> date:
    """The first local date belonging to session `day` or later: the day after the previous session."""
    if calendar is None or calendar.exchange is None:
        return day
    previous = day - timedelta(days=1)
    for _ in range(MAX_DAYS_BETWEEN_SESSIONS):
        if calendar.is_session_day(previous):
            break
        previous -= timedelta(days=1)
    return previous + timedelta(days=1)


def _last_day(day: date, calendar: MarketCalendar | None) -> date:
    """The last local date belonging to session `day` or earlier: the last session on or before it."""
    if calendar is None or calendar.exchange is None:
        return day
    for _ in range(MAX_DAYS_BETWEEN_SESSIONS):
        if calendar.is_session_day(day):
            break
        day -= timedelta(days=1)
    return day


def regime_symbol(session: Session) -> str | None:
    """The symbol whose regime the account is judged by: the market's index."""
    return queries.index_symbol(session)


def chart_frame(sample: pd.DataFrame, peak_before: float | None, points: int = CHART_POINTS) -> pd.DataFrame:
    """At most `points` rows: last equity per group, the running peak, and the deepest drawdown in the group; on
    flow_sample's flow-adjusted columns when it has them (a withdrawal is no drawdown), the peak rescaled to each
    point's real money (a 10,000 withdrawal at the peak lowers it by 10,000, as the risk engine's stored peak)."""
    groups = np.arange(len(sample)) * points // max(len(sample), 1)
    grouped = sample.groupby(groups, sort=True)
    adjusted = "min_adjusted" in sample
    last, low, high = ("flow_adjusted_equity", "min_adjusted", "max_adjusted") if adjusted else (
        "equity", "min_equity", "max_equity")
    frame = pd.DataFrame({"ts": grouped["ts"].last(), "equity": grouped["equity"].last(),
                          "adjusted": grouped[last].last(), "low": grouped[low].min(), "high": grouped[high].max()})
    if "net_cash_flow" in sample:
        frame["net_cash_flow"] = grouped["net_cash_flow"].sum()
    peak = frame["high"].cummax()
    if peak_before is not None:
        peak = peak.clip(lower=peak_before)
    scale = (frame["equity"] / frame["adjusted"]).where(frame["adjusted"] != 0, 1.0)  # 1.0 without flows
    frame["peak"] = peak * scale
    frame["drawdown_pct"] = (frame["low"] / peak.where(peak > 0) - 1.0) * 100.0  # none before the account is funded
    return frame.reset_index(drop=True)


def daily_pnl(session: Session, start: datetime | None, end: datetime | None,
              calendar: MarketCalendar | None = None) -> pd.DataFrame:
    """P&L of each market day in range (the risk engine's trading day of `calendar`: an after-hours or weekend
    snapshot counts for its session, as the daily-loss limit counts it; UTC days without a calendar): its last
    equity minus the day before's, the first day's against the equity at the start of the range (the last
    snapshot before it, else the range's first snapshot). The Backtest page counts day 1 the same way, so the
    days add up to the range's P&L and a one-day range still has its bar."""
    daily = pq.daily_equity(session, start, end, calendar)
    before = pq.account_range(session, None, start - timedelta(microseconds=1)) if start is not None else None
    inside = pq.account_range(session, start, end) if before is None else None
    opening = before.last_ts if before is not None else inside.first_ts if inside is not None else None
    if daily.empty or opening is None:  # no snapshot in range
        return pd.DataFrame({"day": pd.Series(dtype=str), "pnl": pd.Series(dtype=float)})
    base = pq.daily_equity(session, opening, opening)  # the snapshot at that time (the last one if tied)
    pnl = daily["equity"].diff()
    pnl.iloc[0] = float(daily["equity"].iloc[0]) - float(base["equity"].iloc[-1])
    return pd.DataFrame({"day": daily["day"], "pnl": pnl}).reset_index(drop=True)


def daily_label(calendar: MarketCalendar | None) -> str:
    """The daily P&L axis title: the session day of the exchange, or the calendar day of the market's timezone."""
    if calendar is None:
        return "market day (UTC)"
    if calendar.exchange:
        return f"session day ({calendar.label}; after-hours and weekends count for their session)"
    return f"market day ({calendar.timezone})"


def build_view(session: Session, start: datetime | None, end: datetime | None,
               session_mins: float | None = None, calendar: MarketCalendar | None = None,
               days: float | None = None) -> PerformanceView | None:
    """Everything the page shows for [start, end]; None when no account snapshot lies in it.
    `session_mins`: the market's trading session when known (see market_session_minutes), else read from the data;
    `calendar`: the market's timezone and exchange (its days are the daily grid's), UTC without one;
    `days`: the market's trading days a year when known (market_days_per_year), else year_days decides."""
    span = pq.account_range(session, start, end)
    on_grid = grid_equity(session, start, end, calendar, session_mins) if span is not None else None
    if span is None or on_grid is None:
        return None
    flows = range_flows(session, start, end)
    sample = flow_sample(session, start, end, SAMPLE_POINTS, span, flows)
    equity, gross = on_grid.equity, on_grid.gross
    grid = on_grid.grid.in_market_year(days if days is not None else year_days(calendar, equity))
    fills = pq.fills_frame(session, None, end)  # from the start: a trip in range may have opened before it
    trips = round_trips(fills)
    if start is not None and len(trips):
        trips = trips[trips["exit_ts"] >= pd.Timestamp(start)].reset_index(drop=True)
    in_range = fills[fills["ts"] >= pd.Timestamp(start)] if start is not None else fills
    symbol = regime_symbol(session)
    regimes = pq.regime_changes(session, symbol, end) if symbol else None
    ppy = grid.periods_per_year
    metrics, solvency = metrics_with_note(equity, in_range, regimes, ppy, RISK_FREE, gross_exposure=gross,
                                          trips=trips)
    exact = pq.max_drawdown(session, start, end)  # from the stored peak, as the chart and the risk engine
    if exact is not None:  # every snapshot, not only the sampled ones
        metrics["max_drawdown"] = exact
        cagr = metrics.get("cagr")
        metrics["calmar"] = float(cagr) / -exact if isinstance(cagr, float) and exact < 0 else None
    metrics["return_frequency"] = grid.label
    metrics["days_per_year"] = grid.days_per_year
    count, commission = pq.fill_totals(session, start, end)
    marks = read_marks(session)
    return PerformanceView(
        span=span, sample=sample, chart=chart_frame(sample, adjusted_peak_before(session, start)), daily=daily_pnl(session, start, end, calendar),
        daily_label=daily_label(calendar),
        metrics=metrics, definitions=definitions_for(ppy, RISK_FREE, grid), trips=trips,
        fills=pq.recent_fills(session, start, end, FILLS_SHOWN), fill_count=count, commission=commission,
        stored_peak=float(marks.peak) if marks.peak is not None else None,
        latest_equity=float(marks.equity) if marks.equity is not None else None,
        sample_rows=len(sample), regime_symbol=symbol, grid=grid, grid_equity=equity, flows=flows,
        notes=[f"returns on {grid.label}: {len(equity) - 1:,} {grid.adjective} returns from {span.rows:,} snapshots "
               f"(the last snapshot of each {grid.unit}; {grid.unit}s without one left out), annualised by "
               f"{ppy:,.0f} {grid.adjective} returns a year ({grid.factor_text}), risk-free rate {RISK_FREE:.2%}; max drawdown over every snapshot",
               *short_history_note(span.first_ts, span.last_ts), *([solvency] if solvency else [])],
    )


SHORT_HISTORY = pd.Timedelta(days=30)  # under this, annualised ratios rest on too few returns to mean much


def short_history_note(first: datetime, last: datetime) -> list[str]:
    """A warning beside the annualised ratios when the history is short: volatility, Sharpe and Sortino are
    annualised from whatever is there (as empyrical does); CAGR and Calmar are left blank under a year."""
    held = pd.Timestamp(last) - pd.Timestamp(first)
    if held >= SHORT_HISTORY:
        return []
    hours = held.total_seconds() / 3600
    length = f"{hours:.1f} hours" if hours < 48 else f"{hours / 24:.1f} days"
    return [f"only {length} of history: the annualised volatility, Sharpe and Sortino are extrapolated from it "
            "and are noisy until there are weeks of returns"]


def market_session_minutes(settings: Settings) -> float | None:
    """The simulated market trades round the clock: its session is a day, whatever gaps the account history
    has (the app was not running); Alpaca's US equities trade the XNYS regular session (390 minutes); CSV
    replays' sessions are read from the snapshots (periods.py)."""
    if settings.market_source == MarketSourceName.SIMULATED:
        return float(DAY_MINUTES)
    if settings.market_source == MarketSourceName.ALPACA:
        return US_EQUITY_SESSION_MINUTES
    return None


def market_days_per_year(settings: Settings) -> float | None:
    """The market's trading days a year: the simulated market trades every day (365, weekends included),
    Alpaca's US equities the XNYS sessions (252); CSV replays: see year_days."""
    if settings.market_source == MarketSourceName.SIMULATED:
        return float(CALENDAR_DAYS)
    if settings.market_source == MarketSourceName.ALPACA:
        return float(TRADING_DAYS)
    return None


def year_days(calendar: MarketCalendar | None, equity: pd.Series) -> float:
    """Trading days a year when the market source does not say: an exchange calendar's sessions (252, weekend
    snapshots count for the next session), else the periods the grid counts: 365 when the closes fall on
    Saturdays and Sundays (each calendar day is a period), 252 otherwise (periods.days_per_year)."""
    if calendar is not None and calendar.exchange:
        return float(TRADING_DAYS)
    return days_per_year(pd.DatetimeIndex(equity.index))


def market_calendar(session: Session, settings: Settings) -> MarketCalendar | None:
    """The market's calendar (timezone, exchange) as the other pages read it; None (UTC) when unreadable."""
    try:
        return settings_calendar_and_warning(settings, active_params(session))[0]
    except Exception:  # noqa: BLE001 - no parameters yet or an unknown zone: UTC days, as before
        return None


@cache.memoize(timeout=VIEW_TTL_SECONDS)
def performance_view(start_day: str | None, end_day: str | None) -> PerformanceView | None:
    ctx = get_context()
    with ctx.store.read() as session:  # its own read: a failed parameter read leaves nothing half done
        calendar = market_calendar(session, ctx.settings)
    start, end = day_bounds(parse_day(start_day), parse_day(end_day), calendar)  # the market's days
    with ctx.store.read() as session:
        return build_view(session, start, end, market_session_minutes(ctx.settings), calendar,
                          market_days_per_year(ctx.settings))


@cache.memoize(timeout=VIEW_TTL_SECONDS)
def account_span() -> pq.AccountRange | None:
    with get_context().store.read() as session:
        return pq.account_range(session)
