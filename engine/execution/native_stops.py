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
position quantity call for. Rules (Alpaca's): a trailing stop for whole shares only, GTC; a stop order GTC
for whole shares and DAY for a fractional quantity; stop prices in cents (1/100 cent below $1), rounded
towards the position so the broker's stop is never looser than the engine's level.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from sqlalchemy import select

from engine import audit
from engine.execution.native_cover import NATIVE_ORIGIN, NATIVE_TYPES, is_live, native_orders, supports_native
from engine.execution.protect import LIVE, STOP_ACTOR
from engine.lease import check_fence
from engine.market.market_clock import market_clock_of
from engine.protocols import ControlContext
from engine.store.models import OrderRow, PositionRow, ProtectiveStop
from engine.trading import state as trading_state
from engine.trading.brokers.base import BrokerError, OrderSide, OrderStatus, OrderType
from engine.trading.gateway import OrderIntent, submit
from engine.trading.orders import OPEN_STATUSES, mark_canceled_in_store
from engine.trading.state import TradingState

log = logging.getLogger(__name__)
HUNDRED = Decimal(100)
PLACING_STATES = (TradingState.ACTIVE, TradingState.REDUCING)


@dataclass(frozen=True, slots=True)
class NativePlan:
    """The broker-side order one stop calls for at one position size."""

    order_type: OrderType
    qty: Decimal
    stop_price: Decimal | None = None
    trail_percent: Decimal | None = None
    time_in_force: str = "gtc"

    @property
    def kind(self) -> str:
        return "trailing" if self.order_type is OrderType.TRAILING_STOP else "stop_loss"


def stop_price_for(entry: Decimal, pct: Decimal, direction: int) -> Decimal:
    """entry * (1 -/+ pct%), in Alpaca's price steps, rounded up for a long's sell stop, down for a short's."""
    level = entry * (1 - direction * pct / HUNDRED)
    step = Decimal("0.01") if level >= 1 else Decimal("0.0001")
    return level.quantize(step, ROUND_CEILING if direction > 0 else ROUND_FLOOR)


def plan_for(row: ProtectiveStop, qty: Decimal) -> NativePlan | None:
    """A percent trail (whole shares) as a trailing stop, else a stop-loss as a stop order; None: engine-side."""
    whole = qty == qty.to_integral_value()
    if row.trail_pct is not None and whole:
        return NativePlan(OrderType.TRAILING_STOP, qty, trail_percent=row.trail_pct)
    if row.stop_loss_pct is not None:
        return NativePlan(OrderType.STOP, qty, stop_price=stop_price_for(row.entry_price, row.stop_loss_pct,
                                                                          row.direction),
                          time_in_force="gtc" if whole else "day")
    return None


def _matches(order: OrderRow, plan: NativePlan) -> bool:
    return order.order_type == plan.order_type.value and order.qty - order.filled_qty == plan.qty


def _may_place(ctx: ControlContext) -> str | None:
    """None when native orders may be placed now, else why not (trading state, Alpaca's session)."""
    with ctx.store.read() as s:
        state = trading_state.current(s).state
    if state not in PLACING_STATES:
        return f"trading is {state.value}"
    session = getattr(ctx.broker, "order_session", None)
    if session is None:
        return None
    try:
        ok, _, why = session(OrderType.STOP)
    except BrokerError as exc:
        return f"the broker's session could not be read ({exc})"
    return None if ok else str(why)


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


def _audit(ctx: ControlContext, action: str, symbol: str, details: dict[str, object], outcome: str = "ok",
           actor: str = STOP_ACTOR) -> None:
    with ctx.store.write() as s:
        check_fence(s, ctx)
        audit.record(s, ctx.clock.now(), actor, action, target=symbol, details=details, outcome=outcome)


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


def _place(ctx: ControlContext, row: ProtectiveStop, plan: NativePlan, actor: str = STOP_ACTOR) -> str:
    side = OrderSide.SELL if row.direction > 0 else OrderSide.BUY
    what = (f"trailing stop {plan.trail_percent}%" if plan.trail_percent is not None
            else f"stop at {plan.stop_price}")
    intent = OrderIntent(row.symbol, side, plan.qty, plan.order_type, None, reason=f"native {what}",
                         idempotency_key=f"native-{row.id}-{plan.qty}-{row.native_order_id or 'first'}",
                         stop_price=plan.stop_price, trail_percent=plan.trail_percent,
                         time_in_force=plan.time_in_force)
    result = submit(ctx, intent, actor=actor, origin=NATIVE_ORIGIN)
    with ctx.store.write() as s:
        check_fence(s, ctx)
        live = s.get(ProtectiveStop, row.id)
        if live is not None:
            live.native_order_id = result.client_order_id
        audit.record(s, ctx.clock.now(), actor, "stop.native", target=row.symbol,
                     details={"stop_id": row.id, "client_order_id": result.client_order_id, "type": plan.order_type.value,
                              "qty": str(plan.qty), "stop": str(plan.stop_price) if plan.stop_price else None,
                              "trail_percent": str(plan.trail_percent) if plan.trail_percent else None,
                              "tif": plan.time_in_force, "replaces": row.native_order_id,
                              "reason": result.reason},
                     outcome="ok" if result.accepted else "rejected")
    verdict = "placed" if result.accepted else f"refused ({result.check}: {result.reason})"
    return f"{row.symbol}: native {what} for {plan.qty} {verdict}"


def protect_rest(ctx: ControlContext, released: list[str], rest: Decimal, actor: str) -> list[str]:
    """After another exit released native orders (client order ids `released`): the same stops' orders again,
    for the `rest` the exit leaves (together never more than the position), placed by `actor` at once.

    Why: the engine's tick would re-place them, but a trader's ticket also works while the engine is down, and
    those shares were protected at the broker before the ticket."""
    if rest <= 0 or not released:
        return []
    with ctx.store.read() as s:
        rows = list(s.scalars(select(ProtectiveStop).where(ProtectiveStop.status == "active",
                                                           ProtectiveStop.native_order_id.in_(released))
                              .order_by(ProtectiveStop.id)))
    if not rows:
        return []
    if (why_not := _may_place(ctx)) is not None:
        for row in rows:
            _audit(ctx, "stop.native_not_replaced", row.symbol, {"stop_id": row.id, "qty": str(rest), "why": why_not},
                   outcome="refused", actor=actor)
        return [f"{rows[0].symbol}: native stop for the {rest} left not placed ({why_not})"]
    for row in rows:  # one stop per position in practice; the first that has a plan takes the rest, never two
        if (plan := plan_for(row, rest)) is not None:
            return [_place(ctx, row, plan, actor)]
    return []


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
    for order in open_natives:
        if order.client_order_id in keep:
            continue
        if not _cancel(ctx, order):
            blocked.add(order.symbol)  # still live (or filled meanwhile): never a second stop on the same shares
            continue
        _audit(ctx, "stop.native_cancel", order.symbol, {"client_order_id": order.client_order_id, "type": order.order_type,
                                                         "why": "stop removed or changed, or position changed"})
        lines.append(f"{order.symbol}: native {order.order_type} {order.client_order_id} canceled")
    wanted = [(row, plan) for row, plan in wanted if row.symbol not in blocked]
    if not wanted:
        return lines
    why_not = _may_place(ctx)
    if why_not is not None:
        log.info("native stops not placed now (%s); the engine's own check protects %s", why_not,
                 ", ".join(r.symbol for r, _ in wanted))
        return lines
    return lines + [_place(ctx, row, plan) for row, plan in wanted]


def _matches_rejected(order: OrderRow, plan: NativePlan) -> bool:
    return order.order_type == plan.order_type.value and order.qty == plan.qty
