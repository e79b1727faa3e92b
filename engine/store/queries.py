"""Read-only queries the pages use. They return plain data (dicts, lists, DataFrames) that cache well.

Pages never run SQL themselves; they call these through webapp.queries (memoized).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import desc, func, select
from sqlalchemy.orm import Session

from engine.store.models import (
    AccountSnapshot,
    AuditEvent,
    BarRow,
    EngineHeartbeat,
    FillRow,
    Instrument,
    JobRun,
    OrderRow,
    PositionRow,
    RegimeSnapshot,
    TradingStateRow,
)


def latest_prices(session: Session) -> list[dict[str, Any]]:
    """Per symbol: last close, its time, and the change against the close 60 bars earlier."""
    rows = []
    for inst in session.scalars(select(Instrument).order_by(Instrument.kind, Instrument.symbol)):
        last = session.scalars(
            select(BarRow).where(BarRow.symbol == inst.symbol).order_by(desc(BarRow.ts)).limit(61)
        ).all()
        if not last:
            continue
        ref = last[-1].close
        rows.append({"symbol": inst.symbol, "kind": inst.kind, "last": last[0].close, "ts": last[0].ts,
                     "change_pct": (last[0].close / ref - 1.0) * 100.0 if ref else 0.0,
                     "volume": last[0].volume})
    return rows


def bars(session: Session, symbol: str, limit: int = 390) -> pd.DataFrame:
    rows = session.execute(
        select(BarRow.ts, BarRow.open, BarRow.high, BarRow.low, BarRow.close, BarRow.volume)
        .where(BarRow.symbol == symbol).order_by(desc(BarRow.ts)).limit(limit)
    ).all()
    frame = pd.DataFrame(rows, columns=["timestamp", "open", "high", "low", "close", "volume"])
    return frame.iloc[::-1].reset_index(drop=True)


def index_symbol(session: Session) -> str | None:
    """The index the engine classifies now, one answer for every page and the what-if.

    A store that ran one market source and then another holds two instruments of kind "index" (the old one is
    never demoted), so "any index row" picked an arbitrary one. The newest regime snapshot names the index the
    engine classified last; with none (or one of a symbol that is no index now), the index instrument with the
    newest bar (ties: the first by symbol), else the first by symbol.
    """
    indexes = sorted(session.scalars(select(Instrument.symbol).where(Instrument.kind == "index")))
    if len(indexes) <= 1:
        return indexes[0] if indexes else None
    classified = session.scalar(select(RegimeSnapshot.symbol).order_by(desc(RegimeSnapshot.id)).limit(1))
    if classified in indexes:
        return classified
    # one max per symbol: each is answered from the (symbol, ts) unique index, where a GROUP BY scans it
    newest = [(ts, symbol) for symbol in indexes
              if (ts := session.scalar(select(func.max(BarRow.ts)).where(BarRow.symbol == symbol))) is not None]
    if not newest:
        return indexes[0]
    return max(newest, key=lambda row: row[0])[1]  # the first by symbol among equal newest bars


def account_history(session: Session, limit: int = 2000) -> pd.DataFrame:
    rows = session.execute(
        select(AccountSnapshot.ts, AccountSnapshot.cash, AccountSnapshot.equity, AccountSnapshot.gross_exposure)
        .order_by(desc(AccountSnapshot.id)).limit(limit)
    ).all()
    frame = pd.DataFrame(rows, columns=["ts", "cash", "equity", "gross_exposure"])
    for col in ("cash", "equity", "gross_exposure"):
        frame[col] = frame[col].astype(float)
    return frame.iloc[::-1].reset_index(drop=True)


def latest_account(session: Session) -> dict[str, Any] | None:
    snap = session.scalars(select(AccountSnapshot).order_by(desc(AccountSnapshot.id)).limit(1)).first()
    if snap is None:
        return None
    return {"ts": snap.ts, "cash": float(snap.cash), "equity": float(snap.equity),
            "buying_power": float(snap.buying_power), "gross_exposure": float(snap.gross_exposure),
            "broker": snap.broker}


def positions(session: Session) -> list[dict[str, Any]]:
    return [
        {"symbol": p.symbol, "qty": float(p.qty), "avg_entry_price": float(p.avg_entry_price),
         "market_price": float(p.market_price) if p.market_price is not None else None,
         "unrealized_pnl": float(p.unrealized_pnl) if p.unrealized_pnl is not None else None,
         "updated_at": p.updated_at}
        for p in session.scalars(select(PositionRow).where(PositionRow.qty != 0).order_by(PositionRow.symbol))
    ]


def orders(session: Session, limit: int = 100, open_only: bool = False) -> list[dict[str, Any]]:
    query = select(OrderRow).order_by(desc(OrderRow.id)).limit(limit)
    if open_only:
        query = query.where(OrderRow.status.in_(("pending_new", "new", "partially_filled")))
    return [
        {"id": o.id, "client_order_id": o.client_order_id, "symbol": o.symbol, "side": o.side, "qty": float(o.qty),
         "type": o.order_type, "limit_price": float(o.limit_price) if o.limit_price is not None else None,
         "status": o.status, "filled_qty": float(o.filled_qty),
         "filled_avg_price": float(o.filled_avg_price) if o.filled_avg_price is not None else None,
         "origin": o.origin, "actor": o.actor, "reject_reason": o.reject_reason, "created_at": o.created_at,
         "param_version_id": o.param_version_id}
        for o in session.scalars(query)
    ]


def fills(session: Session, limit: int = 200) -> list[dict[str, Any]]:
    return [
        {"ts": f.ts, "symbol": f.symbol, "side": f.side, "qty": float(f.qty), "price": float(f.price),
         "commission": float(f.commission), "client_order_id": f.client_order_id}
        for f in session.scalars(select(FillRow).order_by(desc(FillRow.id)).limit(limit))
    ]


def heartbeats(session: Session) -> list[dict[str, Any]]:
    return [
        {"engine_id": h.engine_id, "host": h.host, "pid": h.pid, "started_at": h.started_at,
         "last_beat": h.last_beat, "status": h.status}
        for h in session.scalars(select(EngineHeartbeat).order_by(desc(EngineHeartbeat.last_beat)).limit(10))
    ]


def job_stats(session: Session, now: datetime, window: timedelta = timedelta(minutes=15)) -> list[dict[str, Any]]:
    """Per job over the window: runs, errors, median/p95/last duration, last run and last error."""
    rows = session.execute(
        select(JobRun.job, JobRun.started_at, JobRun.duration_ms, JobRun.outcome, JobRun.error)
        .where(JobRun.started_at >= now - window)
    ).all()
    if not rows:
        return []
    frame = pd.DataFrame(rows, columns=["job", "started_at", "duration_ms", "outcome", "error"])
    stats = []
    for job, everything in frame.sort_values("started_at").groupby("job"):
        skipped = int((everything["outcome"] == "skipped").sum())  # APScheduler refused the run (engine/health/recorder.py)
        group = everything[everything["outcome"] != "skipped"]
        if group.empty:
            stats.append({"job": job, "runs": 0, "errors": 0, "skipped": skipped, "median_ms": None, "p95_ms": None,
                          "last_ms": None, "last_run": everything.iloc[-1]["started_at"], "last_outcome": "skipped",
                          "last_error": None})
            continue
        errors = group[group["outcome"] == "error"]
        last = group.iloc[-1]
        stats.append({
            "job": job, "runs": len(group), "errors": len(errors), "skipped": skipped,
            "median_ms": float(group["duration_ms"].median()),
            "p95_ms": float(group["duration_ms"].quantile(0.95)),
            "last_ms": float(last["duration_ms"]), "last_run": last["started_at"], "last_outcome": last["outcome"],
            "last_error": errors.iloc[-1]["error"] if len(errors) else None,
        })
    return stats


def trading_state(session: Session) -> dict[str, Any] | None:
    row = session.get(TradingStateRow, 1)
    if row is None:
        return None
    return {"state": row.state, "reason": row.reason, "changed_by": row.changed_by, "changed_at": row.changed_at,
            "previous_state": row.previous_state}


def audit_events(session: Session, limit: int = 500, action_prefix: str | None = None) -> list[dict[str, Any]]:
    query = select(AuditEvent).order_by(desc(AuditEvent.id)).limit(limit)
    if action_prefix:
        query = query.where(AuditEvent.action.startswith(action_prefix))
    return [
        {"id": e.id, "ts": e.ts, "actor": e.actor, "action": e.action, "target": e.target, "outcome": e.outcome,
         "details": e.details}
        for e in session.scalars(query)
    ]


def regime_snapshots(session: Session, limit: int = 2000) -> pd.DataFrame:
    rows = session.execute(
        select(RegimeSnapshot.ts, RegimeSnapshot.regime_id, RegimeSnapshot.regime_name, RegimeSnapshot.confidence,
               RegimeSnapshot.volatility_class, RegimeSnapshot.trend_class, RegimeSnapshot.is_transition,
               RegimeSnapshot.param_version_id)
        .order_by(desc(RegimeSnapshot.id)).limit(limit)
    ).all()
    frame = pd.DataFrame(rows, columns=["ts", "regime_id", "regime_name", "confidence", "volatility_class",
                                        "trend_class", "is_transition", "param_version_id"])
    return frame.iloc[::-1].reset_index(drop=True)


def row_counts(session: Session) -> dict[str, int]:
    return {
        "bars": session.scalar(select(func.count()).select_from(BarRow)) or 0,
        "orders": session.scalar(select(func.count()).select_from(OrderRow)) or 0,
        "fills": session.scalar(select(func.count()).select_from(FillRow)) or 0,
        "job_runs": session.scalar(select(func.count()).select_from(JobRun)) or 0,
    }
