"""Broker-side (native) protective orders: a position's stop-loss or percent trailing stop as a resting
stop / trailing-stop order at a broker that takes them (Alpaca), kept in step with the stop and the position.

Why: the engine checks stops once a market tick; a resting order at the broker fires on the next trade,
also while the engine is down. The engine's own check (engine/execution/protect.py) stays the fallback:
it leaves the exit a live native order carries alone and takes over once that order is canceled,
expired or rejected. Take-profit, holding-time and ATR trails stay engine-side.

Every native order goes through the order gateway (origin "stop", actor system:stops: audited, allowed in
REDUCING, refused while HALTED) with its own idempotency key, and ProtectiveStop.native_order_id links it
to the stop. Per tick, after the engine's check: cancel native orders whose stop is gone or whose position
closed, record a native fill on its stop, and place (or cancel + place anew) the order the stop and the
position quantity call for. While none may be placed (HALTED, outside the session) an order that still protects
its position (no more than it) is not cancelled for being out of step: an automatic halt keeps the stops.
Rules (Alpaca's): a trailing stop for whole shares only, GTC; a stop order GTC
for whole shares and DAY for a fractional quantity; stop prices in cents (1/100 cent below $1), rounded
towards the position so the broker's stop is never looser than the engine's level.
"""
from __future__ import annotations

import logging
from decimal import Decimal

from sqlalchemy import select

from engine import audit
from engine.execution.native_cover import NATIVE_TYPES, is_live, native_orders, supports_native
from engine.execution.native_plan import (
    NATIVE_ORIGIN,
    NativePlan,
    audit_native,
    may_place,
    place_native,
    plan_for,
)
from engine.execution.protect import LIVE, STOP_ACTOR
from engine.lease import check_fence
from engine.market.market_clock import market_clock_of
from engine.protocols import ControlContext
from engine.store.models import OrderRow, PositionRow, ProtectiveStop
from engine.trading.brokers.base import BrokerError, OrderStatus, OrderType
from engine.trading.gateway import submit
from engine.trading.orders import OPEN_STATUSES, mark_canceled_in_store

log = logging.getLogger(__name__)


def _matches(order: OrderRow, plan: NativePlan) -> bool:
    return order.order_type == plan.order_type.value and order.qty - order.filled_qty == plan.qty


def _cancel(ctx: ControlContext, order: OrderRow) -> bool:
    """Cancel one native order at the broker; True when it is gone (canceled, or already closed unfilled)."""
    if not order.broker_order_id:
        return False  # not acknowledged yet: the sync resolves it first
    try:
        ctx.broker.cancel_order(order.broker_order_id)
    except BrokerError as exc:
        try:
            found = ctx.broker.get_order_by_client_id(order.client_order_id)
        except BrokerError:
            found = None
        if found is None or found.status.is_open or found.filled_qty > 0:
            log.warning("native stop %s not canceled: %s", order.client_order_id, exc)
            return False
    mark_canceled_in_store(ctx, [order.broker_order_id])
    return True


def _record_fill(ctx: ControlContext, row: ProtectiveStop, order: OrderRow) -> None:
    """The broker's stop filled: the stop row says so (its exit is the native order)."""
    at = market_clock_of(ctx).now()
    with ctx.store.write() as s:
        check_fence(s, ctx)
        live = s.get(ProtectiveStop, row.id)
        if live is None or live.status not in LIVE:
            return
        live.status, live.exit_client_order_id, live.updated_at = "triggered", order.client_order_id, at
        live.trigger_kind = "trailing" if order.order_type == OrderType.TRAILING_STOP.value else "stop_loss"
        live.trigger_price, live.triggered_at = order.filled_avg_price, live.triggered_at or at
        audit.record(s, ctx.clock.now(), STOP_ACTOR, "stop.native_filled", target=row.symbol,
                     details={"stop_id": row.id, "client_order_id": order.client_order_id, "type": order.order_type,
                              "qty": str(order.filled_qty), "price": str(order.filled_avg_price)})


def record_native_fills(ctx: ControlContext) -> list[str]:
    """Before the engine's check: a live stop whose native order filled becomes triggered by that order."""
    if not supports_native(ctx.broker):
        return []
    with ctx.store.read() as s:
        rows = list(s.scalars(select(ProtectiveStop).where(ProtectiveStop.status.in_(LIVE),
                                                           ProtectiveStop.native_order_id.is_not(None))))
        natives = native_orders(s, [r.native_order_id for r in rows])
    lines = []
    for row in rows:
        native = natives.get(row.native_order_id or "")
        if native is not None and native.status == OrderStatus.FILLED.value and row.status != "triggered":
            _record_fill(ctx, row, native)
            lines.append(f"{row.symbol}: native {native.order_type} filled at {native.filled_avg_price}")
    return lines


def sync_native(ctx: ControlContext) -> list[str]:
    """One tick: record native fills, cancel every native order no live stop needs as it is, place what is missing."""
    if not supports_native(ctx.broker):
        return []
    with ctx.store.read() as s:
        open_natives = list(s.scalars(select(OrderRow).where(
            OrderRow.order_type.in_(NATIVE_TYPES), OrderRow.status.in_(OPEN_STATUSES), OrderRow.origin == NATIVE_ORIGIN)))
        rows = list(s.scalars(select(ProtectiveStop).where(ProtectiveStop.status.in_(LIVE))))
        positions = {p.symbol: p.qty for p in s.scalars(select(PositionRow))}
        natives = native_orders(s, [r.native_order_id for r in rows])
    lines: list[str] = []
    keep: set[str] = set()
    wanted: list[tuple[ProtectiveStop, NativePlan]] = []
    for row in rows:
        native = natives.get(row.native_order_id or "")
        if native is not None and native.status == OrderStatus.FILLED.value:
            continue  # record_native_fills marks it; the engine's check closes the stop once the position is flat
        qty = positions.get(row.symbol, Decimal(0))
        holds = qty != 0 and (qty > 0) == (row.direction > 0)
        plan = plan_for(row, abs(qty)) if row.status == "active" and holds else None
        if native is not None and is_live(native) and (native.filled_qty > 0 or (plan and _matches(native, plan))):
            keep.add(native.client_order_id)  # in step (or filling now: the position sync catches up first)
        elif plan is not None and not (native is not None and native.status == OrderStatus.REJECTED.value
                                       and _matches_rejected(native, plan)):
            wanted.append((row, plan))  # a refused order is not retried every tick: the engine's check protects it
    blocked: set[str] = set()
    why_not = may_place(ctx) if wanted or any(o.client_order_id not in keep for o in open_natives) else None
    if why_not is not None:  # no replacement can go out now: a stop still protecting its position stays
        keep |= _still_protecting(open_natives, rows, positions)
    for order in open_natives:
        if order.client_order_id in keep:
            continue
        if not _cancel(ctx, order):
            blocked.add(order.symbol)  # still live (or filled meanwhile): never a second stop on the same shares
            continue
        audit_native(ctx, "stop.native_cancel", order.symbol,
                     {"client_order_id": order.client_order_id, "type": order.order_type,
                      "why": "stop removed or changed, or position changed"}, actor=STOP_ACTOR)
        lines.append(f"{order.symbol}: native {order.order_type} {order.client_order_id} canceled")
    wanted = [(row, plan) for row, plan in wanted if row.symbol not in blocked]
    if not wanted:
        return lines
    if why_not is not None:
        log.info("native stops not placed now (%s); the engine's own check protects %s", why_not,
                 ", ".join(r.symbol for r, _ in wanted))
        return lines
    return lines + [place_native(ctx, row, plan, STOP_ACTOR, submit) for row, plan in wanted]


def _matches_rejected(order: OrderRow, plan: NativePlan) -> bool:
    return order.order_type == plan.order_type.value and order.qty == plan.qty


def _still_protecting(orders: list[OrderRow], rows: list[ProtectiveStop], positions: dict[str, Decimal]) -> set[str]:
    """Client ids of live native orders out of step (the position changed) that still protect their position: the
    stop row is active, the position is held its way and the order covers no more than it. Kept while no
    replacement may be placed (HALTED, outside the session): canceling one would leave the shares with no
    broker-side stop at all; the next tick that may place replaces it."""
    by_order = {r.native_order_id: r for r in rows if r.native_order_id and r.status == "active"}
    out = set()
    for order in orders:
        row = by_order.get(order.client_order_id)
        qty = positions.get(order.symbol, Decimal(0))
        if row is not None and qty != 0 and (qty > 0) == (row.direction > 0) and order.qty - order.filled_qty <= abs(qty):
            out.add(order.client_order_id)
    return out
