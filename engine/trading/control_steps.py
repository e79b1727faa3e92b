"""The steps control actions are made of. Each takes the control context, the actor and the
command's args, does one thing, and returns a one-line detail for the UI (or raises ControlError
with a message a trader can act on). Steps are idempotent: running one twice is harmless.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.execution.parent_control import stop_all_parents, stop_entry_parents
from engine.lease import check_fence
from engine.market.market_clock import market_clock_of
from engine.params.typed import Parameters
from engine.params.versions import active_params_or_none
from engine.protocols import ControlContext
from engine.store.models import CommandRow, KeyValue, OrderRow
from engine.trading import gateway
from engine.trading import state as trading_state
from engine.trading.brokers.base import (
    BrokerError,
    BrokerOrder,
    CancelResult,
    OrderSide,
    OrderStatus,
    OrderType,
)
from engine.trading.control_protection import audit_stops, keep_reason, native_stops, stop_ids
from engine.trading.control_types import ControlError
from engine.trading.final_sync import sync_broker
from engine.trading.orders import mark_canceled_in_store
from engine.trading.risk_limits import active_limits
from engine.trading.shutdown_steps import disconnect_broker, flush_logs, save_state
from engine.trading.state import TradingState
from engine.trading.sync import sync_from_broker

log = logging.getLogger(__name__)

VERIFY_TIMEOUT_S = 2.0  # Alpaca cancels asynchronously: give the broker this long to confirm
IN_FLIGHT_WINDOW_S = 10.0  # a pending_new order younger than this may still be on its way to the broker
IN_FLIGHT_WAIT_S = 3.0  # the longest the kill switch waits for such sends to be answered


def _ctx_error(message: str) -> Exception:
    return ControlError(message)


def _still_open(ctx: ControlContext, keep: Collection[str] = ()) -> list[BrokerOrder]:
    orders = ctx.broker.list_open_orders()
    return [o for o in orders if o.broker_order_id not in keep and o.client_order_id not in keep]


def _in_flight(ctx: ControlContext, since: datetime) -> int:
    """Orders the gateway recorded (pending_new) just before the halt and may still be sending."""
    with ctx.store.read() as s:
        return int(s.scalar(select(func.count()).select_from(OrderRow).where(
            OrderRow.status == OrderStatus.PENDING_NEW.value, OrderRow.created_at >= since)) or 0)


def _await_in_flight(ctx: ControlContext) -> int:
    """Wait (bounded) until sends that started before the state change have reached the broker.

    The window is wall-clock seconds; order rows carry the market clock's time: compare like with like."""
    since = market_clock_of(ctx).at_wall(ctx.clock.now() - timedelta(seconds=IN_FLIGHT_WINDOW_S))
    deadline = time.monotonic() + IN_FLIGHT_WAIT_S
    count = _in_flight(ctx, since)
    seen = count
    while count and time.monotonic() < deadline:
        time.sleep(0.02)
        count = _in_flight(ctx, since)
    return seen


def _cancel_except(ctx: ControlContext, keep: set[str]) -> list[CancelResult]:
    """The broker's cancel-all, or (something to keep) one cancel per other open order."""
    if not keep:
        return list(ctx.broker.cancel_all_orders())
    out = []
    for order in _still_open(ctx, keep=keep):
        try:
            ctx.broker.cancel_order(order.broker_order_id)
            out.append(CancelResult(order.broker_order_id, True))
        except BrokerError as exc:
            out.append(CancelResult(order.broker_order_id, False, str(exc)))
    return out


def cancel_orders(ctx: ControlContext, actor: str, args: dict[str, Any]) -> str:
    """Cancel every open order at the broker, catch orders that were in flight when the state
    changed (sent by the gateway after our first cancel), then check the broker has none left.
    Sliced parents are stopped first (engine/execution/parent_control.py) so none sends another child.

    Native protective stops (engine/trading/control_protection.py decides and audits): kept by an automatic
    halt and by a shutdown that keeps its positions; cancelled by the manual kill switch and by any flatten."""
    why_keep = keep_reason(actor, args)
    stops = native_stops(ctx)
    try:
        parents = stop_all_parents(ctx, actor, str(args.get("reason") or "kill switch / cancel all"))
    except Exception:  # noqa: BLE001 - never delays the cancel-all; the state already refuses their children
        log.exception("could not stop the sliced parent orders; canceling at the broker regardless")
        parents = 0
    keep = stop_ids(stops) if why_keep else set()
    results = _cancel_except(ctx, keep)
    in_flight = _await_in_flight(ctx)
    if in_flight:  # they may have reached the broker after the first cancel-all: sweep again
        results += _cancel_except(ctx, keep)
    ok = [r.broker_order_id for r in results if r.ok]
    refused = [r for r in results if not r.ok]
    deadline = time.monotonic() + VERIFY_TIMEOUT_S
    remaining = _still_open(ctx, keep=keep)
    retried = False
    while remaining and time.monotonic() < deadline:
        if not retried:  # one more try, order by order, for whatever the bulk cancel missed
            for order in remaining:
                try:
                    ctx.broker.cancel_order(order.broker_order_id)
                except BrokerError as exc:
                    log.warning("cancel of %s failed: %s", order.broker_order_id, exc)
            retried = True
        time.sleep(0.1)
        remaining = _still_open(ctx, keep=keep)
    open_ids = {o.broker_order_id for o in remaining}
    mark_canceled_in_store(ctx, [i for i in ok if i not in open_ids])
    if remaining:
        shown = ", ".join(f"{o.symbol} {o.side} {o.qty} ({o.broker_order_id})" for o in remaining[:5])
        raise _ctx_error(f"{len(remaining)} order(s) still open at {ctx.broker.name} after cancel-all: {shown}; "
                         "cancel them in the broker's own console and check again")
    others = "other " if why_keep else ""
    detail = f"cancelled {len(ok)} open order(s) at {ctx.broker.name}; broker confirms 0 {others}open"
    left = {i for o in _still_open(ctx) for i in (o.broker_order_id, o.client_order_id)} if why_keep else set()
    detail += audit_stops(ctx, actor, args, stops, why_keep, left)
    if in_flight:
        detail += f"; waited for {in_flight} order(s) in flight at the halt"
    if parents:
        detail += f"; stopped {parents} sliced parent order(s)"
    if refused:
        detail += f" ({len(refused)} refused, already closed: {', '.join(r.message for r in refused[:3])})"
    return detail


def flatten_on_shutdown(ctx: ControlContext) -> bool:
    """Whether a shutdown closes positions: TradingRisk `flatten_on_shutdown` in the active parameters."""
    ps = active_params_or_none(ctx.store)
    return ps is not None and Parameters(ps).trading_risk.flatten_on_shutdown


def flatten(ctx: ControlContext, actor: str, args: dict[str, Any]) -> str:
    """Close every position with one market order each, through the gateway (origin "flatten").

    The store's positions are refreshed from the broker first (the engine may be down), because
    the gateway only lets a HALTED flatten through when it truly reduces a position.
    """
    limits = active_limits(ctx.store)
    sync_from_broker(ctx, limits)
    positions = [p for p in ctx.broker.get_positions() if p.qty != 0]
    if not positions:
        return "no positions to close"
    placed: list[str] = []
    refused: list[str] = []
    for pos in positions:
        side = OrderSide.SELL if pos.qty > 0 else OrderSide.BUY
        intent = gateway.OrderIntent(symbol=pos.symbol, side=side, qty=abs(pos.qty), order_type=OrderType.MARKET,
                                     reason=str(args.get("reason", "flatten")),
                                     idempotency_key=f"control-{args.get('command_id', '')}-{pos.symbol}")
        out = gateway.submit(ctx, intent, actor=actor, origin="flatten", limits=limits)
        label = f"{pos.symbol} {side.value} {abs(pos.qty)}"
        (placed if out.accepted else refused).append(f"{label}: {out.status.value}" + (
            f" ({out.reason})" if out.reason else ""))
    if refused:
        raise _ctx_error(f"{len(refused)} closing order(s) refused: {'; '.join(refused)}"
                         + (f"; sent: {'; '.join(placed)}" if placed else ""))
    return f"closing {len(placed)} position(s) with market orders: " + "; ".join(placed)


def close_positions(ctx: ControlContext, actor: str, args: dict[str, Any]) -> str:
    if not args.get("flatten"):
        return "skipped: positions kept (flatten not requested)"
    return flatten(ctx, actor, args)


def _increases_exposure(order: BrokerOrder, position: Decimal) -> bool:
    rest = order.qty - order.filled_qty
    signed_rest = rest if order.side is OrderSide.BUY else -rest
    return abs(position + signed_rest) > abs(position)


def cancel_entry_orders(ctx: ControlContext, actor: str, args: dict[str, Any]) -> str:
    """REDUCING means no new exposure: stop the sliced parents that would add to a position (none sends
    another child, nor sweeps its rest at market on resume), then cancel open orders that would add to one."""
    positions = {p.symbol: p.qty for p in ctx.broker.get_positions()}
    why = f"stopped by a pause ({args.get('reason') or actor}): REDUCING allows no new exposure; send anew to go on"
    parents = stop_entry_parents(ctx, actor, why, positions)
    entries = [o for o in ctx.broker.list_open_orders() if _increases_exposure(o, positions.get(o.symbol, Decimal(0)))]
    cancelled, failed = [], []
    for order in entries:
        try:
            ctx.broker.cancel_order(order.broker_order_id)
            cancelled.append(order.broker_order_id)
        except BrokerError as exc:
            failed.append(f"{order.symbol} {order.broker_order_id}: {exc}")
    mark_canceled_in_store(ctx, cancelled)
    if failed:
        raise _ctx_error(f"could not cancel {len(failed)} entry order(s): {'; '.join(failed[:3])}")
    return (f"cancelled {len(cancelled)} order(s) that would add exposure; exits kept"
            + (f"; stopped {parents} sliced entry parent order(s)" if parents else ""))


def _resolve_order(ctx: ControlContext, order_id: str) -> tuple[str, str]:
    """(broker order id, label) for our orders.id, a client order id or a broker order id."""
    with ctx.store.read() as s:
        row = None
        if order_id.isdigit():
            row = s.get(OrderRow, int(order_id))
        if row is None:
            row = s.scalars(select(OrderRow).where(
                (OrderRow.client_order_id == order_id) | (OrderRow.broker_order_id == order_id))).first()
    if row is None:
        return order_id, order_id
    label = f"{row.symbol} {row.side} {row.qty} ({row.client_order_id})"
    if row.broker_order_id:
        return row.broker_order_id, label
    found = ctx.broker.get_order_by_client_id(row.client_order_id)
    if found is None:
        raise _ctx_error(f"order {label} never reached {ctx.broker.name}; nothing to cancel")
    return found.broker_order_id, label


def cancel_order(ctx: ControlContext, actor: str, args: dict[str, Any]) -> str:
    broker_id, label = _resolve_order(ctx, str(args["order_id"]))
    try:
        ctx.broker.cancel_order(broker_id)
    except BrokerError as exc:
        raise _ctx_error(f"cancel of {label} refused by {ctx.broker.name}: {exc}") from exc
    mark_canceled_in_store(ctx, [broker_id])
    return f"cancelled {label}"


def stamp_state(s: Session, command_id: Any, state: TradingState) -> None:
    """The state a command set, on its row (its result reports that, not a later command's state) and, when a
    shutdown ends STOPPED, in last_shutdown (save_state ran while trading was still SHUTTING_DOWN)."""
    row = s.get(CommandRow, int(command_id)) if command_id else None
    if row is not None:
        row.result = {**(row.result or {}), "state": state.value}
    saved = s.get(KeyValue, "last_shutdown") if state is TradingState.STOPPED else None
    if saved is not None and isinstance(saved.value, dict):
        saved.value = {**saved.value, "state": state.value}


def _state_step(to: TradingState) -> Callable[[Any, str, dict[str, Any]], str]:
    def run(ctx: ControlContext, actor: str, args: dict[str, Any]) -> str:
        with ctx.store.write() as s:
            check_fence(s, ctx)  # fenced: an engine writes only under the lease it holds (engine/lease.py)
            frm = trading_state.current(s, lock=True).state
            snap = trading_state.change(s, ctx.clock.now(), to, actor, str(args.get("reason") or f"{to} by {actor}"))
            stamp_state(s, args.get("command_id"), snap.state)
        return f"{frm} → {snap.state}"

    return run


STEPS: dict[str, Callable[..., str]] = {
    "halt": _state_step(TradingState.HALTED),
    "pause": _state_step(TradingState.REDUCING),
    "resume": _state_step(TradingState.ACTIVE),
    "stop_signals": _state_step(TradingState.SHUTTING_DOWN),
    "stopped": _state_step(TradingState.STOPPED),
    "cancel_orders": cancel_orders,
    "cancel_entry_orders": cancel_entry_orders,
    "flatten": flatten,
    "close_positions": close_positions,
    "cancel_order": cancel_order,
    "disconnect_broker": disconnect_broker,
    "save_state": save_state,
    "flush_logs": flush_logs,
    "sync_broker": sync_broker,  # engine/trading/final_sync.py: store = broker after a kill switch or shutdown
}
