"""Canceling parents as one, the kill switch's parent step, and the Trading page's view of parents.

A parent is stopped in the store first (so no tick sends another child), then its working children
are canceled at the broker. The kill switch only stops parents here: its own cancel-all that follows
takes every child at the broker, even with the engine down. A pause stops only the parents that would add
exposure (stop_entry_parents).
"""
from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal
from typing import Any

from sqlalchemy import select

from engine import audit
from engine.lease import check_fence
from engine.market.market_clock import market_clock_of
from engine.protocols import ControlContext
from engine.store.models import ParentOrder

from .exit_cap import exit_ids, forget_exit
from .parent_children import cancel_child, children_of
from .parents import may_reduce


class ParentError(Exception):
    """The parent does not exist or is already finished; the message says which."""


MAX_ID = 2**63 - 1  # the widest id a store keeps: a forged page POST may carry any JSON integer


def _stop(ctx: ControlContext, actor: str, reason: str, parent_id: int | None) -> list[int]:
    at, now = market_clock_of(ctx).now(), ctx.clock.now()
    with ctx.store.write() as s:
        check_fence(s, ctx)
        query = select(ParentOrder).where(ParentOrder.status == "active")
        if parent_id is not None:
            query = query.where(ParentOrder.id == parent_id)
        rows = list(s.scalars(query))
        for row in rows:
            row.status, row.updated_at, row.note = "canceled", at, reason[:500]
            forget_exit(s, int(row.id))
            audit.record(s, now, actor, "parent.cancel", target=row.symbol,
                         details={"parent_id": row.id, "qty": str(row.qty), "filled": str(row.filled_qty),
                                  "why": reason})
        return [int(r.id) for r in rows]


def cancel_parent(ctx: ControlContext, parent_id: int, actor: str, reason: str = "canceled by an operator") -> str:
    """Stop one parent and cancel its working children; a one-line outcome for the UI."""
    if not 1 <= parent_id <= MAX_ID:  # no such row; the store would fail on the number itself (an HTTP 500)
        raise ParentError(f"parent order {parent_id} does not exist; refresh the page")
    with ctx.store.read() as s:
        row = s.get(ParentOrder, parent_id)
        if row is None:
            raise ParentError(f"parent order {parent_id} does not exist; refresh the page")
        if row.status != "active":
            raise ParentError(f"parent order {parent_id} ({row.symbol}) is already {row.status}")
    if not _stop(ctx, actor, reason, parent_id):
        raise ParentError(f"parent order {parent_id} finished meanwhile; nothing to cancel")
    with ctx.store.read() as s:
        kids = children_of(s, [parent_id])[parent_id]
    working = [k for k in kids if k.status.is_open]
    canceled = sum(cancel_child(ctx, k) for k in working)
    left = (f"; the broker did not cancel {len(working) - canceled}: asked again each tick (see the audit log)"
            if canceled < len(working) else "")
    return f"parent {parent_id} canceled; {canceled} of {len(working)} working child order(s) canceled{left}"


def stop_all_parents(ctx: ControlContext, actor: str, reason: str) -> int:
    """The kill switch's first move: no parent sends another child (their children go with the cancel-all)."""
    return len(_stop(ctx, actor, reason, None))


def stop_entry_parents(ctx: ControlContext, actor: str, reason: str, positions: dict[str, Decimal]) -> int:
    """A pause's first move: REDUCING allows no new exposure, so every parent that would add to a position
    stops (its children go with the pause's cancel of entry orders); exit parents keep working."""
    with ctx.store.read() as s:
        active = list(s.scalars(select(ParentOrder).where(ParentOrder.status == "active")))
        exits = exit_ids(s, [int(p.id) for p in active])
        ids = [int(p.id) for p in active if not may_reduce(p, positions.get(p.symbol, Decimal(0)), int(p.id) in exits)]
    return sum(len(_stop(ctx, actor, reason, pid)) for pid in ids)


def _pct(filled: Decimal, qty: Decimal) -> float:
    """Whole percent done, rounded down: the page's "%.0f" showed 996 of 1000 (99.6) as a finished 100%."""
    return float((filled * 100 / qty).to_integral_value(ROUND_FLOOR)) if qty else 0.0


def parent_views(session: Any, limit: int = 20) -> list[dict[str, Any]]:
    """Active parents first, then the newest finished ones, each with its children's progress."""
    active = list(session.scalars(select(ParentOrder).where(ParentOrder.status == "active").order_by(ParentOrder.id)))
    recent = list(session.scalars(select(ParentOrder).where(ParentOrder.status != "active")
                                  .order_by(ParentOrder.id.desc()).limit(max(0, limit - len(active)))))
    rows = active + recent
    kids = children_of(session, [r.id for r in rows])
    out = []
    for r in rows:
        children = kids[r.id]
        filled = sum((k.filled for k in children), Decimal(0))
        out.append({"id": r.id, "symbol": r.symbol, "side": r.side, "qty": r.qty, "mode": r.mode, "status": r.status,
                    "filled": filled, "pct": _pct(filled, r.qty),
                    "children": len(children), "working": sum(k.status.is_open for k in children),
                    "start_at": r.start_at, "end_at": r.end_at, "note": r.note or ""})
    return out
