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
With an exchange calendar (the Alpaca source's XNYS) a parent fits its regular session
(engine/execution/session_fit.py): shortened to end before the close, an exit with too little session left
sent as one order at once, an entry then (or any parent outside the session) refused; a tick sweeps a working
parent before the close and expires one the close overtook, so nothing is sent into a closed market.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError

from engine import audit
from engine.lease import check_fence
from engine.market.market_clock import market_clock_of
from engine.protocols import ControlContext
from engine.store.installation import installation_id
from engine.store.models import BarRow, ParentChild, ParentOrder, PositionRow
from engine.trading import state as trading_state
from engine.trading.brokers.base import OrderSide, OrderStatus, OrderType
from engine.trading.gateway import OrderIntent, client_order_id_for, submit
from engine.trading.marks import latest_closes
from engine.trading.state import TradingState

from .exit_cap import broker_held, closed_note, exit_ids, forget_exit, held, mark_exit, other_working
from .parent_children import ChildView, cancel_child, children_of, roll_child, unsent_confirmed
from .session_fit import ParentRefused, exchange_calendar, fit_to_session, sweep_deadline
from .slicing import SliceSpec, build_schedule, child_limit, due_target, pov_target

log = logging.getLogger(__name__)
PARENT_ACTOR = "system:execution"
HISTORY_BARS = 5_000  # VWAP volume profile: the newest bars of the symbol
SWEEP = 1_000_000  # the slice index past the parent's end: the remainder goes at market


def create_parent(ctx: ControlContext, symbol: str, side: OrderSide, qty: Decimal, spec: SliceSpec, actor: str, origin: str,
                  idempotency_key: str, reason: str = "") -> int:
    """Store a parent (its schedule computed now, fitted to the session); the same idempotency key returns the
    existing parent. Raises ParentRefused (audited) when it cannot be worked in the session now."""
    return create_parent_once(ctx, symbol, side, qty, spec, actor, origin, idempotency_key, reason)[0]


def create_parent_once(ctx: ControlContext, symbol: str, side: OrderSide, qty: Decimal, spec: SliceSpec, actor: str,
                       origin: str, idempotency_key: str, reason: str = "") -> tuple[int, bool]:
    """create_parent, and whether this call created it (False: the key's parent existed already, e.g. a double
    click's second Send: nothing new goes out, and the caller must not count it as sent)."""
    at, now, calendar = market_clock_of(ctx).now(), ctx.clock.now(), exchange_calendar(ctx)
    with ctx.store.read() as s:
        existing = s.scalars(select(ParentOrder.id).where(ParentOrder.idempotency_key == idempotency_key)).first()
        if existing is not None:
            return int(existing), False
        position = s.scalar(select(PositionRow.qty).where(PositionRow.symbol == symbol)) or Decimal(0)
        history: list[tuple[datetime, float]] = []
        if spec.mode == "vwap":
            rows = s.execute(select(BarRow.ts, BarRow.volume).where(BarRow.symbol == symbol)
                             .order_by(BarRow.ts.desc()).limit(HISTORY_BARS)).all()
            history = [(ts, float(v)) for ts, v in rows]
    exiting = shrinks(OrderSide(side), qty, position)  # kept: its children then never pass flat (exit_cap.py)
    try:
        fit = fit_to_session(calendar, at, spec, exiting)
    except ParentRefused as exc:
        with ctx.store.write() as s:
            check_fence(s, ctx)
            audit.record(s, now, actor, "parent.refused", target=symbol, outcome="refused", details={
                "side": OrderSide(side).value, "qty": str(qty), "mode": spec.mode, "origin": origin, "why": str(exc)})
        raise
    schedule = build_schedule(qty, at, fit.spec, history, calendar)
    end = at if fit.one_order else at + timedelta(seconds=fit.spec.duration_s)
    notes = [n for n in (fit.note, "no volume history: equal slices" if spec.mode == "vwap" and not history
                         and not fit.one_order else None) if n]
    try:
        with ctx.store.write() as s:
            check_fence(s, ctx)
            if (found := s.scalars(select(ParentOrder.id).where(ParentOrder.idempotency_key == idempotency_key))
                    .first()) is not None:
                return int(found), False
            row = ParentOrder(idempotency_key=idempotency_key, symbol=symbol, side=OrderSide(side).value, qty=qty,
                              mode=spec.mode, status="active", origin=origin, actor=actor, reason=reason, start_at=at,
                              end_at=end, participation=spec.participation, limit_offset_bps=spec.limit_offset_bps,
                              schedule=[[t.isoformat(), str(q)] for t, q in schedule], filled_qty=Decimal(0),
                              note="; ".join(notes) or None, created_at=at, updated_at=at)
            s.add(row)
            s.flush()
            if exiting:
                mark_exit(s, int(row.id), position, at)
            audit.record(s, now, actor, "parent.create", target=symbol, details={
                "parent_id": row.id, "side": row.side, "qty": str(qty), "mode": spec.mode, "exit": exiting,
                "slices": fit.spec.slices,
                "duration_s": fit.spec.duration_s, "origin": origin, "why": reason,
                **({"asked_duration_s": spec.duration_s, "session": fit.note} if fit.note else {})})
            pid = int(row.id)
    except IntegrityError:  # the same key from a concurrent caller
        with ctx.store.read() as s:
            found_id = s.scalars(select(ParentOrder.id).where(ParentOrder.idempotency_key == idempotency_key)).one()
        return int(found_id), False
    if fit.one_order:  # the close is near: the whole exit goes now, through the same path as a tick's child
        for line in work_parents(ctx, only=pid):
            log.info("%s", line)
    return pid, True


def shrinks(side: OrderSide, rest: Decimal, position: Decimal) -> bool:
    """Whether `rest` shares on `side` only shrink `position` (an exit)."""
    signed = rest if side is OrderSide.BUY else -rest
    return position != 0 and abs(position + signed) < abs(position) and (position + signed) * position >= 0


def reduces(parent: ParentOrder, position: Decimal) -> bool:
    """Whether the parent's remainder only shrinks `position` (an exit; REDUCING lets it work)."""
    return shrinks(OrderSide(parent.side), parent.qty - parent.filled_qty, position)


def may_reduce(parent: ParentOrder, position: Decimal, exiting: bool) -> bool:
    """Whether REDUCING lets the parent work: its rest only shrinks the position, or it was created as an exit and
    the position is still held its way (its children stop at flat: exit_cap.py), even if the trader sold part."""
    return reduces(parent, position) or (exiting and held(OrderSide(parent.side), position) > 0)


def _may_send(state: TradingState, parent: ParentOrder, position: Decimal, exiting: bool) -> bool:
    """ACTIVE sends; REDUCING only a parent that shrinks the position; anything stricter sends nothing."""
    return state is TradingState.ACTIVE or (state is TradingState.REDUCING and may_reduce(parent, position, exiting))


_PARENT_STATUS = select(ParentOrder.status).where(ParentOrder.id == bindparam("pid"))  # built once
_PARENT_STATUS_LOCKED = _PARENT_STATUS.with_for_update()  # PostgreSQL: a concurrent cancel waits for the link
_ACTIVE_PARENTS = select(ParentOrder).where(ParentOrder.status == "active").order_by(ParentOrder.id)  # built once


def work_parents(ctx: ControlContext, only: int | None = None) -> list[str]:
    """One tick for every active parent (or just parent `only`); returns one line per thing done (for logs and
    tests)."""
    at, calendar = market_clock_of(ctx).now(), exchange_calendar(ctx)
    with ctx.store.read() as s:
        parents = [p for p in s.scalars(_ACTIVE_PARENTS) if only is None or p.id == only]
        if not parents:
            return []
        kids = children_of(s, [p.id for p in parents])
        exits = exit_ids(s, [p.id for p in parents])
        state = trading_state.current(s).state
        positions = {p.symbol: p.qty for p in s.scalars(select(PositionRow))}
        closes = latest_closes(s, {p.symbol for p in parents})
        volumes = {p.id: float(s.scalar(select(func.coalesce(func.sum(BarRow.volume), 0.0)).where(
            BarRow.symbol == p.symbol, BarRow.ts > p.start_at)) or 0.0) for p in parents if p.mode == "pov"}
    deadline = sweep_deadline(calendar, at) if calendar is not None else None  # None with a calendar: closed
    done: list[str] = []
    for parent in parents:
        end = parent.end_at if calendar is None else None if deadline is None else min(parent.end_at, deadline)
        done += _work_one(ctx, parent, kids[parent.id], state, positions.get(parent.symbol, Decimal(0)),
                          closes.get(parent.symbol), volumes.get(parent.id, 0.0), at, end, parent.id in exits)
    return done


def _schedule(parent: ParentOrder) -> list[tuple[datetime, Decimal]]:
    return [(datetime.fromisoformat(t), Decimal(q)) for t, q in parent.schedule]


def _target(parent: ParentOrder, at: datetime, end: datetime, market_volume: float) -> tuple[int, Decimal]:
    if at >= end:
        return SWEEP, parent.qty  # the end (or the session's sweep deadline): everything, swept at market
    if parent.mode == "pov":
        return 0, pov_target(parent.qty, parent.participation or Decimal(0), market_volume)
    return due_target(_schedule(parent), at)


def _work_one(ctx: ControlContext, parent: ParentOrder, kids: list[ChildView], state: TradingState, position: Decimal,
              last: tuple[Decimal, datetime] | None, market_volume: float, at: datetime,
              end: datetime | None, exiting: bool = False) -> list[str]:
    """`end`: when the remainder is swept (the parent's end, at the latest the session's sweep deadline); None:
    the exchange's session is closed, so nothing can be sent until the next one. `exiting`: created as an exit,
    so its children stop at flat (engine/execution/exit_cap.py)."""
    filled = sum((k.filled for k in kids), Decimal(0))
    refused = next((k for k in kids if k.status is OrderStatus.REJECTED and k.filled == 0), None)
    if filled >= parent.qty or refused is not None:
        _finish(ctx, parent.id, filled, "done" if filled >= parent.qty else "failed",
                None if refused is None else f"child {refused.client_order_id} refused; see Rejected orders")
        return [f"parent {parent.id}: {'done' if refused is None else 'failed'}"]
    if end is None:  # the close overtook it (an engine down at the sweep): said, never swept into the next open
        _finish(ctx, parent.id, filled, "expired", f"the regular session closed before the parent finished "
                f"({filled} of {parent.qty} filled); the rest was not sent: send a new order in the next session")
        canceled = sum(cancel_child(ctx, k) for k in kids if k.status.is_open)
        return [f"parent {parent.id}: expired (session closed); {canceled} working child order(s) canceled"]
    side, free, others = OrderSide(parent.side), None, Decimal(0)
    if exiting:  # what it may still have working; nothing: the position it exits is gone (or others exit it)
        with ctx.store.read() as s:
            others = other_working(s, parent.symbol, side, {k.client_order_id for k in kids})
        free = held(side, position) - others
        if free <= 0:
            _finish(ctx, parent.id, filled, "done", closed_note(side, position, filled, parent.qty))
            canceled = sum(cancel_child(ctx, k) for k in kids if k.status.is_open)
            return [f"parent {parent.id}: done (nothing left to exit); {canceled} working child order(s) canceled"]
    if not _may_send(state, parent, position, exiting):  # never held to be swept at market on resume: stopped, and said
        _finish(ctx, parent.id, filled, "canceled", f"stopped: trading is {state.value} and this parent may not send "
                f"({filled} of {parent.qty} filled); send a new order when trading allows it")
        canceled = sum(cancel_child(ctx, k) for k in kids if k.status.is_open)
        return [f"parent {parent.id}: stopped ({state.value}); {canceled} working child order(s) canceled"]
    slice_index, target = _target(parent, at, end, market_volume)
    lines: list[str] = []
    stale = [k for k in kids if k.status.is_open
             and (parent.mode != "pov" or slice_index == SWEEP) and _slice_of(parent, k, end) < slice_index]
    for k in stale:  # a new slice is due: the rest the broker proves unfilled rolls into the new child
        after = roll_child(ctx, k)
        if after is not None:
            kids = [after if c is k else c for c in kids]
            free = None if free is None else free - (after.filled - k.filled)  # fills the last sync had not seen
            lines.append(f"parent {parent.id}: canceled child {k.seq} ({after.qty - after.filled} left)")
    # a child the broker would not cancel, or whose end it cannot confirm, still counts whole: never re-sent
    filled = sum((k.filled for k in kids), Decimal(0))
    working = [k for k in kids if k.status.is_open]
    want = min(target, parent.qty) - filled - sum((k.qty - k.filled for k in working), Decimal(0))
    if filled != parent.filled_qty:
        _finish(ctx, parent.id, filled, None, None)
    if free is not None:  # an exit: never more working than the position still holds
        own = sum((k.qty - k.filled for k in working), Decimal(0))
        if free < own:  # the position shrank under working children: end them (the truth read back), resend capped
            ended = sum(roll_child(ctx, k) is not None for k in working)
            return lines + [f"parent {parent.id}: working children exceed the position left to exit; {ended} of "
                            f"{len(working)} canceled, the rest is resent capped"]
        if want > 0 and last is not None:  # about to send: the broker's position, newer than the last sync's
            now_held = broker_held(ctx, parent.symbol, side)
            if now_held is None:
                return lines + [f"parent {parent.id}: the broker's position could not be read; no child this tick"]
            free = min(free, now_held - others)
        want = min(want, free - own)
    if want <= 0 or last is None:
        return lines
    if not unsent_confirmed(ctx, kids):  # a crash mid-slice: the child the sync guessed unsent, asked again
        return lines + [f"parent {parent.id}: a child thought never sent is at the broker (or not known); no child"]
    sweep = at >= end
    limit = None if sweep else child_limit(last[0], parent.side, parent.limit_offset_bps)
    lines.append(_send_child(ctx, parent, len(kids) + 1, want, limit))
    return lines


def _slice_of(parent: ParentOrder, child: ChildView, end: datetime) -> int:
    """The slice a child was sent in: its link's time against the schedule (past the end: the sweep)."""
    if child.created_at >= end:
        return SWEEP
    return due_target(_schedule(parent), child.created_at)[0]


def _send_child(ctx: ControlContext, parent: ParentOrder, seq: int, qty: Decimal, limit: Decimal | None) -> str:
    """Link, send, then look again: `parent` was read at the start of the tick, and an operator may cancel it
    meanwhile. The link is written only while the parent row (locked on PostgreSQL, where cancel_parent's
    update waits for it) is still active; a cancel committed after the link is caught after the send, and the
    child canceled: cancel_parent finds nothing to cancel at the broker before the child reaches it."""
    key = f"parent-{parent.id}-{seq}"
    side = OrderSide(parent.side)
    coid = client_order_id_for(parent.origin, key, parent.symbol, side, installation_id(ctx.store))
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
            forget_exit(s, parent_id)
            audit.record(s, ctx.clock.now(), PARENT_ACTOR, f"parent.{status}", target=row.symbol,
                         details={"parent_id": parent_id, "filled": str(filled), "qty": str(row.qty), "note": note},
                         outcome="ok" if status == "done" else status)
