"""The steps control actions are made of. Each takes the control context, the actor and the
command's args, does one thing, and returns a one-line detail for the UI (or raises ControlError
with a message a trader can act on). Steps are idempotent: running one twice is harmless.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from engine.execution.parent_control import stop_all_parents
from engine.lease import check_fence
from engine.market.market_clock import market_clock_of
from engine.params.typed import Parameters
from engine.params.versions import active_params_or_none
from engine.protocols import ControlContext
from engine.store.models import KeyValue, OrderRow, PositionRow
from engine.trading import gateway
from engine.trading import state as trading_state
from engine.trading.brokers.base import BrokerError, BrokerOrder, OrderSide, OrderStatus, OrderType
from engine.trading.control_types import ControlError
from engine.trading.final_sync import sync_broker
from engine.trading.orders import OPEN_STATUSES, mark_canceled_in_store
from engine.trading.risk_limits import active_limits
from engine.trading.state import TradingState
from engine.trading.sync import sync_from_broker

log = logging.getLogger(__name__)

VERIFY_TIMEOUT_S = 2.0  # Alpaca cancels asynchronously: give the broker this long to confirm
IN_FLIGHT_WINDOW_S = 10.0  # a pending_new order younger than this may still be on its way to the broker
IN_FLIGHT_WAIT_S = 3.0  # the longest the kill switch waits for such sends to be answered


def _ctx_error(message: str) -> Exception:
    return ControlError(message)


def _still_open(ctx: ControlContext, ids: set[str] | None = None) -> list[BrokerOrder]:
    orders = ctx.broker.list_open_orders()
    return [o for o in orders if ids is None or o.broker_order_id in ids]


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


def cancel_orders(ctx: ControlContext, actor: str, args: dict[str, Any]) -> str:
    """Cancel every open order at the broker, catch orders that were in flight when the state
    changed (sent by the gateway after our first cancel), then check the broker has none left.
    Sliced parents are stopped first (engine/execution/parent_control.py) so none sends another child."""
    try:
        parents = stop_all_parents(ctx, actor, str(args.get("reason") or "kill switch / cancel all"))
    except Exception:  # noqa: BLE001 - never delays the cancel-all; the state already refuses their children
        log.exception("could not stop the sliced parent orders; canceling at the broker regardless")
        parents = 0
    results = list(ctx.broker.cancel_all_orders())
    in_flight = _await_in_flight(ctx)
    if in_flight:  # they may have reached the broker after the first cancel-all: sweep again
        results += ctx.broker.cancel_all_orders()
    ok = [r.broker_order_id for r in results if r.ok]
    refused = [r for r in results if not r.ok]
    deadline = time.monotonic() + VERIFY_TIMEOUT_S
    remaining = _still_open(ctx)
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
        remaining = _still_open(ctx)
    open_ids = {o.broker_order_id for o in remaining}
    mark_canceled_in_store(ctx, [i for i in ok if i not in open_ids])
    if remaining:
        shown = ", ".join(f"{o.symbol} {o.side} {o.qty} ({o.broker_order_id})" for o in remaining[:5])
        raise _ctx_error(f"{len(remaining)} order(s) still open at {ctx.broker.name} after cancel-all: {shown}; "
                         "cancel them in the broker's own console and check again")
    detail = f"cancelled {len(ok)} open order(s) at {ctx.broker.name}; broker confirms 0 open"
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
    """REDUCING means no new exposure: cancel open orders that would add to a position."""
    positions = {p.symbol: p.qty for p in ctx.broker.get_positions()}
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
    return f"cancelled {len(cancelled)} order(s) that would add exposure; exits kept"


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


def disconnect_broker(ctx: ControlContext, actor: str, args: dict[str, Any]) -> str:
    for name in ("disconnect", "close"):
        method: Callable[[], object] | None = getattr(ctx.broker, name, None)
        if callable(method):
            method()
            return f"{ctx.broker.name}: {name}() done"
    return f"{ctx.broker.name}: no connection to close"


def save_state(ctx: ControlContext, actor: str, args: dict[str, Any]) -> str:
    """Persist what a restart needs to know: when and by whom trading stopped, and what was left."""
    now = ctx.clock.now()
    try:  # broker truth when the broker still answers (it may be disconnected by now)
        positions = [{"symbol": p.symbol, "qty": str(p.qty)} for p in ctx.broker.get_positions() if p.qty != 0]
        open_orders = len(ctx.broker.list_open_orders())
        source = ctx.broker.name
    except Exception:  # noqa: BLE001 - fall back to the store's last synced view
        with ctx.store.read() as s:
            positions = [{"symbol": p.symbol, "qty": str(p.qty)} for p in s.scalars(select(PositionRow))
                         if p.qty != 0]
            open_orders = len(list(s.scalars(select(OrderRow.id).where(OrderRow.status.in_(OPEN_STATUSES)))))
        source = "store (broker unreachable)"
    with ctx.store.write() as s:
        check_fence(s, ctx)  # fenced: an engine writes only under the lease it holds (engine/lease.py)
        value = {"at": now.isoformat(), "actor": actor, "positions": positions, "open_orders": open_orders,
                 "source": source, "state": trading_state.current(s).state.value}
        row = s.get(KeyValue, "last_shutdown")
        if row is None:
            s.add(KeyValue(key="last_shutdown", value=value, updated_at=now))
        else:
            row.value, row.updated_at = value, now
    return f"saved: {len(positions)} position(s), {open_orders} open order(s) (from {source})"


def flush_logs(ctx: ControlContext, actor: str, args: dict[str, Any]) -> str:
    handlers = logging.getLogger().handlers
    for handler in handlers:
        handler.flush()
    return f"flushed {len(handlers)} log handler(s)"


def _state_step(to: TradingState) -> Callable[[Any, str, dict[str, Any]], str]:
    def run(ctx: ControlContext, actor: str, args: dict[str, Any]) -> str:
        with ctx.store.write() as s:
            check_fence(s, ctx)  # fenced: an engine writes only under the lease it holds (engine/lease.py)
            frm = trading_state.current(s, lock=True).state
            snap = trading_state.change(s, ctx.clock.now(), to, actor, str(args.get("reason") or f"{to} by {actor}"))
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
