"""The Performance page's reads over the WHOLE account history, bounded by downsampling in SQL.

A year of one-minute snapshots is half a million rows; the page never loads them one by one:
- `account_sample` keeps the last snapshot of each of at most `max_points` id buckets (snapshot ids grow
  with time), with the bucket's lowest and highest equity, so a chart or a metric sees every bucket;
- `account_sample` also keeps the range's first snapshot, so returns start where the range starts;
- `max_drawdown` finds the deepest fall from the running peak over every snapshot (a window function), the
  peak seeded with the highest equity before the range (the risk engine's stored peak);
- `daily_equity` is the last snapshot of each market day (daily P&L): the session day the daily-loss limit
  counts (MarketCalendar.trading_day), UTC days without a calendar;
- fills are counted and their commission summed in SQL; round trips need the fills themselves;
- deposits and withdrawals (cash_flows) are not P&L: the equity `account_points`, `point_before` and
  `max_drawdown` give is time-weighted (engine/analytics/flows.py), `daily_equity`'s is net of the flows.
Money is stored as text on SQLite (engine/store/types.py), so every comparison or aggregate casts to a float.
Times are aware UTC datetimes: the market clock's time that the engine stamps on snapshots and fills.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import BigInteger, ColumnElement, Float, Integer, and_, case, cast, func, literal, select
from sqlalchemy.orm import Session

from engine.analytics.flows import FlowSteps, flow_steps
from engine.store.models import AccountSnapshot, BarRow, CashFlowRow, FillRow, RegimeSnapshot

if TYPE_CHECKING:
    from engine.market.exchange import MarketCalendar

EQUITY = cast(AccountSnapshot.equity, Float)
FILL_FRAME_COLUMNS = ["ts", "symbol", "side", "qty", "price", "commission"]
QUARTER_HOUR = 900  # seconds: every timezone's midnight falls on a UTC quarter hour


@dataclass(frozen=True)
class AccountRange:
    """What the stored history covers between two times (or all of it)."""

    first_ts: datetime
    last_ts: datetime
    rows: int
    first_id: int
    last_id: int


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _within(column: Any, start: datetime | None, end: datetime | None) -> ColumnElement[bool]:
    parts = [column >= start] if start is not None else []
    if end is not None:
        parts.append(column <= end)
    return and_(True, *parts)


def account_range(session: Session, start: datetime | None = None, end: datetime | None = None) -> AccountRange | None:
    row = session.execute(
        select(func.min(AccountSnapshot.ts), func.max(AccountSnapshot.ts), func.count(),
               func.min(AccountSnapshot.id), func.max(AccountSnapshot.id))
        .where(_within(AccountSnapshot.ts, start, end))).one()
    if not row[2]:
        return None
    first, last = _aware(row[0]), _aware(row[1])
    assert first is not None and last is not None
    return AccountRange(first_ts=first, last_ts=last, rows=int(row[2]), first_id=int(row[3]), last_id=int(row[4]))


def account_sample(session: Session, start: datetime | None, end: datetime | None,
                   max_points: int, span: AccountRange | None = None) -> pd.DataFrame:
    """ts, equity, cash, gross_exposure of the last snapshot per bucket, and the bucket's min/max equity.

    Every snapshot in range belongs to one of at most `max_points` buckets of consecutive ids
    (`span`: the range's account_range when the caller has it already).
    """
    span = span or account_range(session, start, end)
    columns = ["ts", "equity", "cash", "gross_exposure", "min_equity", "max_equity", "snapshots"]
    if span is None:
        return pd.DataFrame(columns=columns)
    width = max(1, -(-(span.last_id - span.first_id + 1) // max(1, max_points)))
    bucket = (AccountSnapshot.id - span.first_id) // width
    buckets = (
        select(func.max(AccountSnapshot.id).label("last_id"), func.min(EQUITY).label("min_equity"),
               func.max(EQUITY).label("max_equity"), func.count().label("snapshots"))
        .where(_within(AccountSnapshot.ts, start, end)).group_by(bucket).subquery()
    )
    rows = session.execute(
        select(AccountSnapshot.ts, EQUITY, cast(AccountSnapshot.cash, Float),
               cast(AccountSnapshot.gross_exposure, Float), buckets.c.min_equity, buckets.c.max_equity,
               buckets.c.snapshots)
        .join(buckets, AccountSnapshot.id == buckets.c.last_id).order_by(AccountSnapshot.id)).all()
    first = session.execute(  # the first snapshot too, so the sample starts where the range starts
        select(AccountSnapshot.id, AccountSnapshot.ts, EQUITY, cast(AccountSnapshot.cash, Float),
               cast(AccountSnapshot.gross_exposure, Float)).where(_within(AccountSnapshot.ts, start, end))
        .order_by(AccountSnapshot.id).limit(1)).one()
    data = [tuple(r) for r in rows]
    if not data or data[0][0] != first[1]:
        data.insert(0, (first[1], first[2], first[3], first[4], first[2], first[2], 0))
    frame = pd.DataFrame(data, columns=columns)
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame.sort_values("ts", kind="stable").reset_index(drop=True)


def peak_before(session: Session, start: datetime | None) -> float | None:
    """The highest equity stored before `start` (the running peak a range starts from)."""
    if start is None:
        return None
    value = session.scalar(select(func.max(EQUITY)).where(AccountSnapshot.ts < start))
    return float(value) if value is not None else None


def max_drawdown(session: Session, start: datetime | None, end: datetime | None) -> float | None:
    """The deepest fall from the running peak over every snapshot in range (a negative fraction, or 0.0).

    The peak is the risk engine's: the highest equity since the first snapshot, so a range that starts in a
    drawdown is measured from the peak before it (peak_before), as the drawdown chart is. A snapshot while
    the peak is not yet positive (an account not funded yet) has no drawdown and is left out."""
    equity = twr_equity(flows_of(session))
    running = (
        select(equity.label("equity"),
               func.max(equity).over(order_by=AccountSnapshot.id, rows=(None, 0)).label("peak"))
        .where(_within(AccountSnapshot.ts, start, end)).subquery()
    )
    peak: Any = running.c.peak
    if start is not None:  # CASE, not GREATEST/max(a, b): one spelling for SQLite and PostgreSQL
        before = select(func.max(equity)).where(AccountSnapshot.ts < start).scalar_subquery()
        peak = case((before > running.c.peak, before), else_=running.c.peak)  # no snapshot before: NULL, else
    value = session.scalar(select(func.min(running.c.equity / peak - 1.0)).where(peak > 0))
    return min(float(value), 0.0) if value is not None else None


def daily_equity(session: Session, start: datetime | None, end: datetime | None,
                 calendar: MarketCalendar | None = None) -> pd.DataFrame:
    """day, ts and equity of the last snapshot of each market day in range: ``calendar.session_days`` (the
    risk engine's trading day: an after-hours or weekend snapshot belongs to its session), UTC days without one.
    Any zone's midnight is a UTC quarter hour, so the last snapshot of each quarter hour holds every day's last."""
    points = _points(session, start, end, QUARTER_HOUR)
    points["equity"] = flows_of(session).net_equity(points["id"], points["equity"])  # day P&L without the flows
    frame = points[["ts", "equity"]].copy()
    frame["day"] = (calendar.session_days(frame["ts"]) if calendar is not None
                    else frame["ts"].dt.strftime("%Y-%m-%d"))
    last = frame.groupby("day", sort=False).tail(1)  # rows are in id order: the day's last snapshot
    return last[["ts", "equity", "day"]].reset_index(drop=True)


def fill_totals(session: Session, start: datetime | None, end: datetime | None,
                symbol: str | None = None) -> tuple[int, float]:
    """(number of fills, commission paid) over every fill in range."""
    query = select(func.count(), func.sum(cast(FillRow.commission, Float))).where(_within(FillRow.ts, start, end))
    if symbol is not None:
        query = query.where(FillRow.symbol == symbol)
    count, commission = session.execute(query).one()
    return int(count or 0), float(commission or 0.0)


def fills_frame(session: Session, start: datetime | None, end: datetime | None,
                symbol: str | None = None) -> pd.DataFrame:
    """Every fill in range, oldest first (round trips are matched over these)."""
    query = (select(FillRow.ts, FillRow.symbol, FillRow.side, cast(FillRow.qty, Float), cast(FillRow.price, Float),
                    cast(FillRow.commission, Float)).where(_within(FillRow.ts, start, end))
             .order_by(FillRow.ts, FillRow.id))
    if symbol is not None:
        query = query.where(FillRow.symbol == symbol)
    frame = pd.DataFrame(session.execute(query).all(), columns=FILL_FRAME_COLUMNS)
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame


def recent_fills(session: Session, start: datetime | None, end: datetime | None, limit: int) -> list[dict[str, Any]]:
    """The newest `limit` fills in range, for a table (counts come from fill_totals)."""
    rows = session.scalars(select(FillRow).where(_within(FillRow.ts, start, end))
                           .order_by(FillRow.ts.desc(), FillRow.id.desc()).limit(limit))
    return [{"ts": _aware(f.ts), "symbol": f.symbol, "side": f.side, "qty": float(f.qty), "price": float(f.price),
             "commission": float(f.commission), "client_order_id": f.client_order_id} for f in rows]


def traded_symbols(session: Session) -> list[str]:
    return list(session.scalars(select(FillRow.symbol).distinct().order_by(FillRow.symbol)))


# The regime the engine acted on, as current_regime.effective_names reads it (backtests attribute by it): the
# effective name, "uncertain" when there was none, and the rule-based name of a snapshot stored before 0012.
ACTED_ON = case((RegimeSnapshot.regime_status.is_(None), RegimeSnapshot.regime_name),
                (RegimeSnapshot.effective_regime_name.is_(None), literal("uncertain")),
                else_=RegimeSnapshot.effective_regime_name)


def regime_changes(session: Session, symbol: str, end: datetime | None) -> pd.Series:
    """The regime the engine acted on (ACTED_ON) indexed by the time each took force, for `symbol` (only the
    changes, not every snapshot): P&L per regime is attributed as a backtest's is."""
    ordered = (
        select(RegimeSnapshot.ts.label("ts"), ACTED_ON.label("name"),
               func.lag(ACTED_ON).over(order_by=(RegimeSnapshot.ts, RegimeSnapshot.id)).label("previous"))
        .where(RegimeSnapshot.symbol == symbol, _within(RegimeSnapshot.ts, None, end)).subquery()
    )
    rows = session.execute(
        select(ordered.c.ts, ordered.c.name)
        .where((ordered.c.previous.is_(None)) | (ordered.c.previous != ordered.c.name))
        .order_by(ordered.c.ts)).all()
    index = pd.DatetimeIndex(pd.to_datetime([r[0] for r in rows], utc=True))
    return pd.Series([r[1] for r in rows], index=index, dtype="object", name="regime")


def symbol_closes(session: Session, symbol: str, start: datetime | None, end: datetime | None,
                  max_points: int) -> pd.DataFrame:
    """ts and close of `symbol`'s bars in range: the last bar of each of at most `max_points` id buckets."""
    span = session.execute(select(func.min(BarRow.id), func.max(BarRow.id))
                           .where(BarRow.symbol == symbol, _within(BarRow.ts, start, end))).one()
    if span[0] is None:
        return pd.DataFrame(columns=["ts", "close"])
    width = max(1, -(-(int(span[1]) - int(span[0]) + 1) // max(1, max_points)))
    last = (select(func.max(BarRow.id).label("last_id"))
            .where(BarRow.symbol == symbol, _within(BarRow.ts, start, end))
            .group_by((BarRow.id - int(span[0])) // width).subquery())
    rows = session.execute(select(BarRow.ts, cast(BarRow.close, Float)).join(last, BarRow.id == last.c.last_id)
                           .order_by(BarRow.ts)).all()
    frame = pd.DataFrame(rows, columns=["ts", "close"])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame


def _epoch_bucket(session: Session, seconds: int) -> Any:
    """floor(seconds since 1970 UTC / `seconds`) of a snapshot's time, on SQLite and PostgreSQL."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.floor(func.extract("epoch", AccountSnapshot.ts)), BigInteger) // seconds
    return cast(func.strftime("%s", AccountSnapshot.ts), Integer) // seconds  # SQLite stores naive UTC text


def point_before(session: Session, start: datetime) -> pd.DataFrame:
    """ts, equity, gross_exposure of the last snapshot before `start` (no row when there is none): the equity a
    range that starts mid-history opens with, as a return series cut at a date starts from the close before it."""
    rows = session.execute(
        select(AccountSnapshot.id, AccountSnapshot.ts, EQUITY, cast(AccountSnapshot.gross_exposure, Float))
        .where(AccountSnapshot.ts < start).order_by(AccountSnapshot.id.desc()).limit(1)).all()
    return _time_weighted(session, rows)


def account_points(session: Session, start: datetime | None, end: datetime | None, seconds: int) -> pd.DataFrame:
    """ts, equity, gross_exposure of the range's first snapshot and of the last snapshot of each UTC bucket of
    `seconds` (snapshot ids grow with time: the highest id is the last), oldest first; the equity time-weighted
    (flows_of): returns measured on it leave deposits and withdrawals out."""
    points = _points(session, start, end, seconds)
    points["equity"] = flows_of(session).time_weighted(points["id"], points["equity"])
    return points[["ts", "equity", "gross_exposure"]]


def _time_weighted(session: Session, rows: Any) -> pd.DataFrame:
    """ts, equity (time-weighted), gross_exposure of (id, ts, equity, gross_exposure) rows."""
    frame = pd.DataFrame([tuple(r) for r in rows], columns=["id", "ts", "equity", "gross_exposure"])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    frame["equity"] = flows_of(session).time_weighted(frame["id"], frame["equity"])
    return frame[["ts", "equity", "gross_exposure"]]


def flows_of(session: Session) -> FlowSteps:
    """The recorded cash flows that lie between two snapshots, as the steps engine/analytics/flows.py applies."""
    rows = session.execute(select(CashFlowRow.snapshot_id, cast(CashFlowRow.amount, Float),
                                  cast(CashFlowRow.equity_after, Float))
                           .where(CashFlowRow.snapshot_id.is_not(None), CashFlowRow.equity_after.is_not(None))
                           .order_by(CashFlowRow.snapshot_id)).all()
    return flow_steps([(int(r[0]), float(r[1]), float(r[2])) for r in rows])


def flows_between(session: Session, first_id: int, last_id: int) -> float:
    """Net deposits (+) / withdrawals (-) that arrived between snapshots first_id and last_id: the flows a range's
    returns leave out (shown beside its return)."""
    total = session.scalar(select(func.sum(cast(CashFlowRow.amount, Float)))
                           .where(CashFlowRow.snapshot_id > first_id, CashFlowRow.snapshot_id <= last_id))
    return float(total or 0.0)


def twr_equity(steps: FlowSteps) -> Any:
    """EQUITY times its time-weighting factor, a step in snapshot id (a CASE over the few flows: no join)."""
    if not steps.ids:
        return EQUITY
    whens = [(AccountSnapshot.id < sid, factor) for sid, factor in zip(steps.ids, steps.factors[:-1], strict=True)]
    return EQUITY * case(*whens, else_=steps.factors[-1])


def _points(session: Session, start: datetime | None, end: datetime | None, seconds: int) -> pd.DataFrame:
    """account_points's rows with their snapshot id and the equity as stored."""
    last = (select(func.max(AccountSnapshot.id).label("last_id"))
            .where(_within(AccountSnapshot.ts, start, end)).group_by(_epoch_bucket(session, seconds)).subquery())
    first = (select(func.min(AccountSnapshot.id)).where(_within(AccountSnapshot.ts, start, end))).scalar_subquery()
    rows = session.execute(
        select(AccountSnapshot.id, AccountSnapshot.ts, EQUITY, cast(AccountSnapshot.gross_exposure, Float))
        .where((AccountSnapshot.id.in_(select(last.c.last_id))) | (AccountSnapshot.id == first))
        .order_by(AccountSnapshot.id)).all()
    frame = pd.DataFrame([tuple(r) for r in rows], columns=["id", "ts", "equity", "gross_exposure"])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame
