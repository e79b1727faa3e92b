"""Store reads for the trade controls (Trading page and banner), memoized like webapp.queries."""
from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import desc, or_, select
from sqlalchemy.exc import SQLAlchemyError

from engine.store.models import AuditEvent, CommandRow, OrderRow, ReconciliationRun
from engine.trading import control
from webapp import queries
from webapp.context import get_context
from webapp.live_cache import forget as forget_live_reads
from webapp.live_cache import live_query

CONTROL_AUDIT_PREFIXES = ("control.", "trading_state.", "order.flatten_override")


def command_dict(row: CommandRow) -> dict[str, Any]:
    result = row.result or {}
    return {"id": row.id, "kind": row.kind, "actor": row.actor, "status": row.status, "created_at": row.created_at,
            "finished_at": row.finished_at, "args": dict(row.args or {}), "steps": list(result.get("steps", [])),
            "executor": result.get("executor", ""), "message": result.get("message", "")}


def read_last_command() -> dict[str, Any] | None:
    """Uncached: the newest control command, for the callback that just performed it."""
    with get_context().store.read() as s:
        row = s.scalars(select(CommandRow).where(CommandRow.kind.in_(control.KINDS))
                        .order_by(desc(CommandRow.id)).limit(1)).first()
        return command_dict(row) if row is not None else None


def read_order(order_id: Any) -> dict[str, Any] | None:
    """Uncached: one order by our orders.id, its client order id or its broker order id (as the cancel step
    resolves it), for a message that names the order; None when unknown."""
    key = str(order_id or "").strip()
    if not key:
        return None
    with get_context().store.read() as s:
        row = s.get(OrderRow, int(key)) if key.isdigit() else None
        if row is None:
            row = s.scalars(select(OrderRow).where(
                (OrderRow.client_order_id == key) | (OrderRow.broker_order_id == key)).limit(1)).first()
        if row is None:
            return None
        return {"id": row.id, "symbol": row.symbol, "side": row.side, "qty": row.qty,
                "client_order_id": row.client_order_id, "status": row.status, "order_type": row.order_type,
                "limit_price": row.limit_price}


@live_query()
def last_command() -> dict[str, Any] | None:
    return read_last_command()


@live_query()
def control_audit(limit: int = 50) -> list[dict[str, Any]]:
    with get_context().store.read() as s:
        rows = s.scalars(select(AuditEvent).where(or_(*(AuditEvent.action.startswith(p) for p in CONTROL_AUDIT_PREFIXES)))
                         .order_by(desc(AuditEvent.id)).limit(limit))
        return [{"id": e.id, "ts": e.ts, "actor": e.actor, "action": e.action, "target": e.target,
                 "outcome": e.outcome, "details": e.details} for e in rows]


@live_query()
def rejected_orders(limit: int = 20) -> list[dict[str, Any]]:
    """The newest rejected orders with their reason (a risk check's, or the broker's own words)."""
    with get_context().store.read() as s:
        rows = s.scalars(select(OrderRow).where(OrderRow.status == "rejected").order_by(desc(OrderRow.id)).limit(limit))
        return [{"id": o.id, "symbol": o.symbol, "side": o.side, "qty": o.qty, "origin": o.origin,
                 "created_at": o.created_at, "updated_at": o.updated_at, "reject_reason": o.reject_reason or ""}
                for o in rows]


@live_query()
def last_reconciliation() -> dict[str, Any] | None:
    try:
        with get_context().store.read() as s:
            run = s.scalars(select(ReconciliationRun).order_by(desc(ReconciliationRun.id)).limit(1)).first()
            if run is None:
                return None
            return {"id": run.id, "ts": run.ts, "ok": run.ok, "differences": list(run.differences or [])}
    except SQLAlchemyError:  # a database not yet migrated to the reconciliation table
        return None


def section_data() -> dict[str, Any]:
    """Every Trading page section's data from the cached queries (plain dicts)."""
    return {
        "state": queries.trading_state(), "progress": last_command(), "positions": queries.positions(),
        "orders": queries.orders(200, True), "fills": queries.fills(50),
        "reconcile": last_reconciliation(), "audit": control_audit(50),
        "rejections": rejected_orders(20),
    }


def fingerprint(value: Any) -> str:
    return hashlib.sha1(json.dumps(value, default=str, sort_keys=True).encode()).hexdigest()


@live_query()
def sections() -> tuple[dict[str, Any], dict[str, str]]:
    """(data, fingerprint) of every Trading section, computed once per cache period for every tab and worker."""
    data = section_data()
    return data, {k: fingerprint(v) for k, v in data.items()}


def forget() -> None:
    """Drop cached control reads after an action, so the next refresh shows its effect at once (in every
    web worker: webapp/live_cache.py)."""
    forget_live_reads()
