"""Sliced parent orders in the live engine: create, work on each market tick, cancel as one.

Each child is an ordinary gateway order (every risk check, the throttle, the audit) whose client
order id is linked to its parent in parent_order_children *before* it is sent, so a crash between the
two never leaves a child nobody owns. A child still working when the next slice falls due is
canceled and its rest rolls into the next child; after the parent's end the remainder is swept at
market. A child the gateway refuses stops the parent (status failed, with the reason) instead of
retrying into the same refusal every tick. The kill switch stops every parent (stop_all_parents),
then its cancel-all takes the children at the broker; a pause stops the entry parents (stop_entry_parents),
and a tick that finds a parent the trading state forbids to send stops it too, so no remainder waits
to be swept at market in one order when trading resumes after the parent's end.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError

from engine import audit
from engine.lease import check_fence
from engine.market.market_clock import market_clock_of
from engine.protocols import ControlContext
from engine.store.models import BarRow, OrderRow, ParentChild, ParentOrder, PositionRow
from engine.trading import state as trading_state
from engine.trading.brokers.base import BrokerError, OrderSide, OrderStatus, OrderType
from engine.trading.gateway import OrderIntent, client_order_id_for, submit
from engine.trading.marks import latest_closes
from engine.trading.orders import mark_canceled_in_store, record_broker_order
from engine.trading.state import TradingState

from .slicing import SliceSpec, build_schedule, child_limit, due_target, pov_target

log = logging.getLogger(__name__)
PARENT_ACTOR = "system:execution"
HISTORY_BARS = 5_000  # VWAP volume profile: the newest bars of the symbol
SWEEP = 1_000_000  # the slice index past the parent's end: the remainder goes at market


@dataclass(frozen=True, slots=True)
class ChildView:
    client_order_id: str
    broker_order_id: str | None
    seq: int
    qty: Decimal
    filled: Decimal
    status: OrderStatus
    created_at: datetime


def create_parent(ctx: ControlContext, symbol: str, side: OrderSide, qty: Decimal, spec: SliceSpec, actor: str, origin: str,
                  idempotency_key: str, reason: str = "") -> int:
    """Store a parent (its schedule computed now); the same idempotency key returns the existing parent."""
    at, now = market_clock_of(ctx).now(), ctx.clock.now()
    with ctx.store.read() as s:
        history: list[tuple[datetime, float]] = []
        if spec.mode == "vwap":
            rows = s.execute(select(BarRow.ts, BarRow.volume).where(BarRow.symbol == symbol)
                             .order_by(BarRow.ts.desc()).limit(HISTORY_BARS)).all()
            history = [(ts, float(v)) for ts, v in rows]
    schedule = build_schedule(qty, at, spec, history)
    end = at + timedelta(seconds=spec.duration_s)
    try:
        with ctx.store.write() as s:
            check_fence(s, ctx)
            existing = s.scalars(select(ParentOrder.id).where(ParentOrder.idempotency_key == idempotency_key)).first()
            if existing is not None:
                return int(existing)
            row = ParentOrder(idempotency_key=idempotency_key, symbol=symbol, side=OrderSide(side).value, qty=qty,
                              mode=spec.mode, status="active", origin=origin, actor=actor, reason=reason, start_at=at,
                              end_at=end, participation=spec.participation, limit_offset_bps=spec.limit_offset_bps,
                              schedule=[[t.isoformat(), str(q)] for t, q in schedule], filled_qty=Decimal(0),
                              note=None if spec.mode != "vwap" or history else "no volume history: equal slices",
                              created_at=at, updated_at=at)
            s.add(row)
            s.flush()
            audit.record(s, now, actor, "parent.create", target=symbol, details={
                "parent_id": row.id, "side": row.side, "qty": str(qty), "mode": spec.mode, "slices": spec.slices,
                "duration_s": spec.duration_s, "origin": origin, "why": reason})
            return int(row.id)
    except IntegrityError:  # the same key from a concurrent caller
        with ctx.store.read() as s:
            return int(s.scalars(select(ParentOrder.id).where(ParentOrder.idempotency_key == idempotency_key)).one())


def children_of(session: Any, parent_ids: Sequence[int]) -> dict[int, list[ChildView]]:
    out: dict[int, list[ChildView]] = {pid: [] for pid in parent_ids}
    if not parent_ids:
        return out
    rows = session.execute(
        select(ParentChild.parent_id, ParentChild.seq, ParentChild.client_order_id, ParentChild.qty,
               OrderRow.broker_order_id, OrderRow.filled_qty, OrderRow.status, ParentChild.created_at)
        .join(OrderRow, OrderRow.client_order_id == ParentChild.client_order_id, isouter=True)
        .where(ParentChild.parent_id.in_(list(parent_ids))).order_by(ParentChild.seq))
    for pid, seq, coid, qty, broker_id, filled, status, created in rows:
        # a link without an order row: the crash window before the gateway recorded it; treated as never sent
        out[pid].append(ChildView(coid, broker_id, seq, qty, filled or Decimal(0),
                                  OrderStatus(status) if status else OrderStatus.CANCELED, created))
    return out


def reduces(parent: ParentOrder, position: Decimal) -> bool:
    """Whether the parent's remainder only shrinks `position` (an exit; REDUCING lets it work)."""
    rest = parent.qty - parent.filled_qty
    signed = rest if parent.side == OrderSide.BUY.value else -rest
    return position != 0 and abs(position + signed) < abs(position) and (position + signed) * position >= 0


def _may_send(state: TradingState, parent: ParentOrder, position: Decimal) -> bool:
    """ACTIVE sends; REDUCING only a parent that shrinks the position; anything stricter sends nothing."""
    return state is TradingState.ACTIVE or (state is TradingState.REDUCING and reduces(parent, position))


_PARENT_STATUS = select(ParentOrder.status).where(ParentOrder.id == bindparam("pid"))  # built once
_PARENT_STATUS_LOCKED = _PARENT_STATUS.with_for_update()  # PostgreSQL: a concurrent cancel waits for the link
_ACTIVE_PARENTS = select(ParentOrder).where(ParentOrder.status == "active").order_by(ParentOrder.id)  # built once


def work_parents(ctx: ControlContext) -> list[str]:
    """One tick for every active parent; returns one line per thing done (for logs and tests)."""
    at = market_clock_of(ctx).now()
    with ctx.store.read() as s:
        parents = list(s.scalars(_ACTIVE_PARENTS))
        if not parents:
            return []
        kids = children_of(s, [p.id for p in parents])
        state = trading_state.current(s).state
        positions = {p.symbol: p.qty for p in s.scalars(select(PositionRow))}
        closes = latest_closes(s, {p.symbol for p in parents})
        volumes = {p.id: float(s.scalar(select(func.coalesce(func.sum(BarRow.volume), 0.0)).where(
            BarRow.symbol == p.symbol, BarRow.ts > p.start_at)) or 0.0) for p in parents if p.mode == "pov"}
    done: list[str] = []
    for parent in parents:
        done += _work_one(ctx, parent, kids[parent.id], state, positions.get(parent.symbol, Decimal(0)),
                          closes.get(parent.symbol), volumes.get(parent.id, 0.0), at)
    return done


def _schedule(parent: ParentOrder) -> list[tuple[datetime, Decimal]]:
    return [(datetime.fromisoformat(t), Decimal(q)) for t, q in parent.schedule]


def _target(parent: ParentOrder, at: datetime, market_volume: float) -> tuple[int, Decimal]:
    if at >= parent.end_at:
        return SWEEP, parent.qty  # the end: everything, swept at market
    if parent.mode == "pov":
        return 0, pov_target(parent.qty, parent.participation or Decimal(0), market_volume)
    return due_target(_schedule(parent), at)


def _work_one(ctx: ControlContext, parent: ParentOrder, kids: list[ChildView], state: TradingState, position: Decimal,
              last: tuple[Decimal, datetime] | None, market_volume: float, at: datetime) -> list[str]:
    filled = sum((k.filled for k in kids), Decimal(0))
    refused = next((k for k in kids if k.status is OrderStatus.REJECTED and k.filled == 0), None)
    if filled >= parent.qty or refused is not None:
        _finish(ctx, parent.id, filled, "done" if filled >= parent.qty else "failed",
                None if refused is None else f"child {refused.client_order_id} refused; see Rejected orders")
        return [f"parent {parent.id}: {'done' if refused is None else 'failed'}"]
    if not _may_send(state, parent, position):  # never held to be swept at market on resume: stopped, and said
        _finish(ctx, parent.id, filled, "canceled", f"stopped: trading is {state.value} and this parent may not send "
                f"({filled} of {parent.qty} filled); send a new order when trading allows it")
        canceled = sum(cancel_child(ctx, k) for k in kids if k.status.is_open)
        return [f"parent {parent.id}: stopped ({state.value}); {canceled} working child order(s) canceled"]
    slice_index, target = _target(parent, at, market_volume)
    lines: list[str] = []
    stale = [k for k in kids if k.status.is_open
             and (parent.mode != "pov" or slice_index == SWEEP) and _slice_of(parent, k) < slice_index]
    for k in stale:  # a new slice is due: the rest the broker proves unfilled rolls into the new child
        after = _roll_child(ctx, k)
        if after is not None:
            kids = [after if c is k else c for c in kids]
            lines.append(f"parent {parent.id}: canceled child {k.seq} ({after.qty - after.filled} left)")
    # a child the broker would not cancel, or whose end it cannot confirm, still counts whole: never re-sent
    filled = sum((k.filled for k in kids), Decimal(0))
    working = [k for k in kids if k.status.is_open]
    want = min(target, parent.qty) - filled - sum((k.qty - k.filled for k in working), Decimal(0))
    if filled != parent.filled_qty:
        _finish(ctx, parent.id, filled, None, None)
    if want <= 0 or last is None:
        return lines
    sweep = at >= parent.end_at
    limit = None if sweep else child_limit(last[0], parent.side, parent.limit_offset_bps)
    lines.append(_send_child(ctx, parent, len(kids) + 1, want, limit))
    return lines


def _slice_of(parent: ParentOrder, child: ChildView) -> int:
    """The slice a child was sent in: its link's time against the schedule (past the end: the sweep)."""
    if child.created_at >= parent.end_at:
        return SWEEP
    return due_target(_schedule(parent), child.created_at)[0]


def _send_child(ctx: ControlContext, parent: ParentOrder, seq: int, qty: Decimal, limit: Decimal | None) -> str:
    """Link, send, then look again: `parent` was read at the start of the tick, and an operator may cancel it
    meanwhile. The link is written only while the parent row (locked on PostgreSQL, where cancel_parent's
    update waits for it) is still active; a cancel committed after the link is caught after the send, and the
    child canceled: cancel_parent finds nothing to cancel at the broker before the child reaches it."""
    key = f"parent-{parent.id}-{seq}"
    side = OrderSide(parent.side)
    coid = client_order_id_for(parent.origin, key, parent.symbol, side)
    with ctx.store.write() as s:  # the link first: a crash after it leaves a child the parent knows
        check_fence(s, ctx)
        status = s.scalar(_PARENT_STATUS_LOCKED if s.get_bind().dialect.name == "postgresql" else _PARENT_STATUS,
                          {"pid": parent.id})
        if status != "active":
            return f"parent {parent.id}: {status or 'gone'} meanwhile; child {seq} not sent"
        if s.scalars(select(ParentChild.id).where(ParentChild.client_order_id == coid)).first() is None:
            s.add(ParentChild(parent_id=parent.id, seq=seq, client_order_id=coid, qty=qty,
                              created_at=market_clock_of(ctx).now()))
    intent = OrderIntent(parent.symbol, side, qty, OrderType.LIMIT if limit is not None else OrderType.MARKET, limit,
                         reason=f"parent {parent.id} ({parent.mode}) child {seq}", idempotency_key=key)
    result = submit(ctx, intent, actor=parent.actor, origin=parent.origin)
    line = f"parent {parent.id}: child {seq} {side.value} {qty} {'limit ' + str(limit) if limit else 'market'}: " \
           f"{result.status.value}" + (f" ({result.reason})" if result.reason else "")
    return line + _cancel_if_parent_stopped(ctx, parent.id, ChildView(
        coid, result.broker_order_id, seq, qty, Decimal(0), result.status, market_clock_of(ctx).now()))


def _cancel_if_parent_stopped(ctx: ControlContext, parent_id: int, child: ChildView) -> str:
    """After the send: a parent canceled since its child was linked gets that child canceled here."""
    if not child.status.is_open:
        return ""
    with ctx.store.read() as s:
        status = s.scalar(_PARENT_STATUS, {"pid": parent_id})
    if status == "active":
        return ""
    canceled = cancel_child(ctx, child)
    log.warning("parent %s became %s while child %s was sent; child %s", parent_id, status, child.client_order_id,
                "canceled" if canceled else "not canceled (the next sync shows why)")
    return f"; the parent is {status}: child {'canceled' if canceled else 'cancel refused'}"


def _cancel_at_broker(ctx: ControlContext, child: ChildView) -> str | None:
    """Ask the broker to cancel a child; its broker order id when the broker accepted, else None."""
    broker_id = child.broker_order_id
    try:
        if broker_id is None:
            found = ctx.broker.get_order_by_client_id(child.client_order_id)
            broker_id = found.broker_order_id if found is not None else None
        if broker_id is not None:
            ctx.broker.cancel_order(broker_id)
    except BrokerError as exc:  # filled or canceled meanwhile: the next sync says which
        log.info("child %s not canceled: %s", child.client_order_id, exc)
        return None
    return broker_id


def cancel_child(ctx: ControlContext, child: ChildView) -> bool:
    """An operator's cancel of a parent's child; a fill that beats it is still written back by sync."""
    broker_id = _cancel_at_broker(ctx, child)
    if broker_id is None:
        return False
    mark_canceled_in_store(ctx, [broker_id])
    return True


def _roll_child(ctx: ControlContext, child: ChildView) -> ChildView | None:
    """Cancel a stale child and return it as the broker then reports it (terminal, its true filled quantity),
    applied to the store at once: the store's filled quantity is the last sync's, and a fill since then would
    otherwise be sent again. None when the broker refused the cancel or cannot show the order ended: the child
    stays open in the store and counts whole, and a later tick (or sync) settles it."""
    if _cancel_at_broker(ctx, child) is None:
        return None
    try:
        order = ctx.broker.get_order_by_client_id(child.client_order_id)
    except BrokerError as exc:
        log.warning("child %s canceled but not read back (%s); its rest waits", child.client_order_id, exc)
        return None
    if order is None or order.status.is_open:  # e.g. Alpaca's pending_cancel: it may still fill
        return None
    record_broker_order(ctx, order)
    return replace(child, broker_order_id=order.broker_order_id, status=order.status,
                   filled=max(child.filled, order.filled_qty))


def _finish(ctx: ControlContext, parent_id: int, filled: Decimal, status: str | None, note: str | None) -> None:
    at = market_clock_of(ctx).now()
    with ctx.store.write() as s:
        check_fence(s, ctx)
        row = s.get(ParentOrder, parent_id)
        if row is None or row.status != "active":
            return
        row.filled_qty, row.updated_at = filled, at
        if status is not None:
            row.status = status
            row.note = note or row.note
            audit.record(s, ctx.clock.now(), PARENT_ACTOR, f"parent.{status}", target=row.symbol,
                         details={"parent_id": parent_id, "filled": str(filled), "qty": str(row.qty), "note": note},
                         outcome="ok" if status == "done" else status)
