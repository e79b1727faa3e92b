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

The store read itself is engine/store/performance_queries.account_points. The chart's and equity CSV's sample
(flow_sample) is read here too, with the deposits and withdrawals: the drawdown chart is drawn on the same
flow-adjusted (time-weighted) equity as the return metrics and the max drawdown, not on the raw equity a
withdrawal dips.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import ColumnElement, Float, and_, cast, func, select
from sqlalchemy.orm import Session

from engine.analytics.grid import ReturnGrid, SessionClock, SessionDay, choose_grid, close_mask
from engine.market.exchange import MarketCalendar
from engine.store.models import AccountSnapshot, CashFlowRow
from engine.store.performance_queries import (
    EQUITY,
    AccountRange,
    account_points,
    flows_of,
    point_before,
    twr_equity,  # the time-weighted equity as SQL: shared, so the chart's drawdown is the figure's
)

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



SAMPLE_COLUMNS = ["ts", "equity", "cash", "gross_exposure", "min_equity", "max_equity", "snapshots",
                  "net_cash_flow", "flow_adjusted_equity", "min_adjusted", "max_adjusted"]
FLOW_COLUMNS = ["snapshot_id", "ts", "amount", "equity", "kind"]


def _in_range(start: datetime | None, end: datetime | None) -> ColumnElement[bool]:
    parts = [AccountSnapshot.ts >= start] if start is not None else []
    if end is not None:
        parts.append(AccountSnapshot.ts <= end)
    return and_(True, *parts)


def range_flows(session: Session, start: datetime | None, end: datetime | None) -> pd.DataFrame:
    """snapshot_id, ts, amount, equity, kind of each deposit (+) and withdrawal (-) first included by a snapshot in
    range, at that snapshot (its time and equity): where the equity chart marks it."""
    rows = session.execute(
        select(CashFlowRow.snapshot_id, AccountSnapshot.ts, cast(CashFlowRow.amount, Float), EQUITY, CashFlowRow.kind)
        .join(AccountSnapshot, AccountSnapshot.id == CashFlowRow.snapshot_id)
        .where(_in_range(start, end)).order_by(CashFlowRow.snapshot_id, CashFlowRow.id)).all()
    frame = pd.DataFrame([tuple(r) for r in rows], columns=FLOW_COLUMNS)
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame


def flow_sample(session: Session, start: datetime | None, end: datetime | None, max_points: int,
                span: AccountRange | None, flows: pd.DataFrame) -> pd.DataFrame:
    """account_sample's rows (the last snapshot of each of at most `max_points` consecutive-id buckets, and the
    range's first snapshot) with the deposits and withdrawals left out too: each bucket's net cash flow (`flows`,
    range_flows, its snapshots first include), the last snapshot's flow-adjusted equity and the bucket's lowest
    and highest flow-adjusted equity (time-weighted, engine/analytics/flows.py: the curve the return metrics and
    the max drawdown are measured on), so the drawdown chart shows no dip for a withdrawal."""
    if span is None:
        return pd.DataFrame(columns=SAMPLE_COLUMNS)
    steps = flows_of(session)
    adjusted = twr_equity(steps)  # the max drawdown's own curve (a SQL CASE over the few flows)
    width = max(1, -(-(span.last_id - span.first_id + 1) // max(1, max_points)))
    bucket = (AccountSnapshot.id - span.first_id) // width
    buckets = (select(func.max(AccountSnapshot.id).label("last_id"), func.min(EQUITY).label("lo"),
                      func.max(EQUITY).label("hi"), func.count().label("n"), func.min(adjusted).label("alo"),
                      func.max(adjusted).label("ahi"))
               .where(_in_range(start, end)).group_by(bucket).subquery())
    cash, gross = cast(AccountSnapshot.cash, Float), cast(AccountSnapshot.gross_exposure, Float)
    rows = session.execute(
        select(AccountSnapshot.id, AccountSnapshot.ts, EQUITY, cash, gross, buckets.c.lo, buckets.c.hi, buckets.c.n,
               buckets.c.alo, buckets.c.ahi)
        .join(buckets, AccountSnapshot.id == buckets.c.last_id).order_by(AccountSnapshot.id)).all()
    first = session.execute(select(AccountSnapshot.id, AccountSnapshot.ts, EQUITY, cash, gross)
                            .where(_in_range(start, end)).order_by(AccountSnapshot.id).limit(1)).one()
    data = [tuple(r) for r in rows]
    if not data or data[0][1] != first[1]:  # the range starts at its first snapshot: a row of no bucket
        value = float(steps.time_weighted(pd.Series([first[0]]), pd.Series([first[2]])).iloc[0])
        data.insert(0, (*first, first[2], first[2], 0, value, value))
    frame = pd.DataFrame(data, columns=["id", "ts", "equity", "cash", "gross_exposure", "min_equity", "max_equity",
                                        "snapshots", "min_adjusted", "max_adjusted"])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    frame["flow_adjusted_equity"] = steps.time_weighted(frame["id"], frame["equity"])
    by_bucket = flows.groupby((flows["snapshot_id"] - span.first_id) // width)["amount"].sum()
    net = ((frame["id"] - span.first_id) // width).map(by_bucket).fillna(0.0).astype("float64")
    frame["net_cash_flow"] = net.where(frame["snapshots"] > 0, 0.0)  # the first snapshot's row: its bucket's has it
    return frame.sort_values("ts", kind="stable").reset_index(drop=True)[SAMPLE_COLUMNS]


def adjusted_peak_before(session: Session, start: datetime | None) -> float | None:
    """The highest flow-adjusted equity before `start`: the running peak a range's drawdown starts from, as the
    max drawdown figure's (pq.max_drawdown)."""
    if start is None:
        return None
    value = session.scalar(select(func.max(twr_equity(flows_of(session)))).where(AccountSnapshot.ts < start))
    return float(value) if value is not None else None
