"""Which control actions keep the positions' native protective stops at the broker, and the audit of what
their cancel step kept or cancelled.

Decision (what a trader expects from each path):
- An automatic HALT (a `system:` actor: the risk triggers' too many rejections, daily loss, drawdown, stale data,
  circuit breaker; the dead-man's switch) stops new risk, not protection: it cancels every other open order and
  keeps the resting stop / trailing-stop orders of the positions it keeps. They only ever shrink a position, and
  while HALTED the engine's own exits are refused, so they are the positions' only protection (overnight, or
  with the engine dead). An operator resumes, or presses the kill switch, to change that.
- A shutdown without flatten keeps them too: with the engine stopped they are the positions' only protection.
- The manual kill switch is what its button and the docs promise, "cancel every open order": the stops go too
  (with or without flatten), as they would with the broker's own cancel-all. An operator presses it when the
  engine or the market cannot be trusted, and a resting stop is an order that can still sell at any price; a
  viewer may press it, and its check is "the broker confirms 0 open". So that nobody is surprised, its audit
  and step detail name the protective stops cancelled and the positions left without a broker-side stop.
- With flatten (kill switch, shutdown, or the Flatten action) the stops go with the positions.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from engine import audit
from engine.execution.native_cover import NATIVE_TYPES
from engine.execution.native_plan import NATIVE_ORIGIN
from engine.lease import check_fence
from engine.protocols import ControlContext
from engine.store.models import OrderRow
from engine.trading.orders import OPEN_STATUSES
from engine.trading.state import SYSTEM_ACTOR_PREFIX


def keep_reason(actor: str, args: dict[str, Any]) -> str | None:
    """Why this command's cancel step keeps the native protective stops; None: it cancels them too."""
    if args.get("flatten"):
        return None
    if args.get("action") == "shutdown":
        return "a shutdown keeps the positions: with the engine stopped the stops are their only protection"
    if args.get("action") == "halt" and actor.startswith(SYSTEM_ACTOR_PREFIX):
        return "an automatic halt stops new risk, not the positions' protection"
    return None


def native_stops(ctx: ControlContext) -> list[OrderRow]:
    """The live native protective stops in the store (engine/execution/native_stops.py)."""
    with ctx.store.read() as s:
        rows = list(s.scalars(select(OrderRow).where(
            OrderRow.origin == NATIVE_ORIGIN, OrderRow.order_type.in_(NATIVE_TYPES),
            OrderRow.status.in_(OPEN_STATUSES)).order_by(OrderRow.id)))
        s.expunge_all()
    return rows


def stop_ids(rows: list[OrderRow]) -> set[str]:
    """Client and broker ids of `rows`, as the cancel step matches the broker's open orders."""
    return {str(i) for r in rows for i in (r.client_order_id, r.broker_order_id) if i}


def _label(row: OrderRow) -> str:
    return f"{row.symbol} {row.side} {format(row.qty.normalize(), 'f')} {row.order_type} ({row.client_order_id})"


def audit_stops(ctx: ControlContext, actor: str, args: dict[str, Any], rows: list[OrderRow], why: str | None,
                still_open: set[str]) -> str:
    """Audit what the cancel step did with the native stops (kept, or cancelled by a manual kill switch); the
    words for the step's detail ("" when there were none)."""
    if not rows:
        return ""
    if why is not None:
        kept = [r for r in rows if r.broker_order_id in still_open or r.client_order_id in still_open]
        action, shown = "control.native_stops_kept", kept
        detail = f"; kept {len(kept)} native protective stop(s) at {ctx.broker.name} ({why})"
    else:
        action, shown = "control.native_stops_cancelled", rows
        detail = (f"; including {len(rows)} native protective stop(s): "
                  f"{', '.join(sorted({r.symbol for r in rows}))} now without a broker-side stop")
    with ctx.store.write() as s:
        check_fence(s, ctx)
        audit.record(s, ctx.clock.now(), actor, action, target="native stops", outcome="ok",
                     details={"command_id": args.get("command_id"), "action": args.get("action"), "why": why
                              or "the kill switch cancels every open order", "orders": [_label(r) for r in shown]})
    return detail
