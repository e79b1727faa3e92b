"""Native protective orders without the order gateway's import: what order a stop calls for (plan_for), whether
one may be placed now (may_place), and placing one through a `submit` the caller passes in.

Why a module of its own: the gateway, releasing the native stops an exit would close, re-places them at once for
the shares the exit leaves (protect_rest); importing the stop manager (engine/execution/native_stops.py, which
imports the gateway) for that would tie the two into an import cycle.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from sqlalchemy import select

from engine import audit
from engine.lease import check_fence
from engine.protocols import ControlContext
from engine.store.models import ProtectiveStop
from engine.trading import state as trading_state
from engine.trading.brokers.base import BrokerError, OrderSide, OrderType
from engine.trading.intent import OrderIntent
from engine.trading.state import TradingState

NATIVE_ORIGIN = "stop"  # the origin protective exits go through the gateway with (engine/trading/risk.py)
Submit = Callable[..., Any]  # engine.trading.gateway.submit
HUNDRED = Decimal(100)
# HALTED places none. Decision (audit finding 1): a protective stop only shrinks a position, and a trader expects an
# automatic halt to keep the positions protected, so HALTED set by a system actor *should* (re-)place one for no more
# than the position; not done here because the gateway's risk check (engine/trading/risk.py check_trading_state)
# refuses every system order while HALTED, and half of it would only record refusals. Meanwhile the stops an
# automatic halt kept stay (control_protection.py), and native_stops.sync_native cancels none it cannot replace.
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


def may_place(ctx: ControlContext) -> str | None:
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


def audit_native(ctx: ControlContext, action: str, symbol: str, details: dict[str, object], outcome: str = "ok",
                 *, actor: str) -> None:
    with ctx.store.write() as s:
        check_fence(s, ctx)
        audit.record(s, ctx.clock.now(), actor, action, target=symbol, details=details, outcome=outcome)


def place_native(ctx: ControlContext, row: ProtectiveStop, plan: NativePlan, actor: str, submit: Submit) -> str:
    """Send the native order `plan` for stop `row` through the gateway's `submit` (passed in: the gateway calls
    back here while it releases stops for an exit), link it to the stop and audit it."""
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


def protect_rest(ctx: ControlContext, released: list[str], rest: Decimal, actor: str, submit: Submit) -> list[str]:
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
    if (why_not := may_place(ctx)) is not None:
        for row in rows:
            audit_native(ctx, "stop.native_not_replaced", row.symbol, {"stop_id": row.id, "qty": str(rest), "why": why_not},
                   outcome="refused", actor=actor)
        return [f"{rows[0].symbol}: native stop for the {rest} left not placed ({why_not})"]
    for row in rows:  # one stop per position in practice; the first that has a plan takes the rest, never two
        if (plan := plan_for(row, rest)) is not None:
            return [place_native(ctx, row, plan, actor, submit)]
    return []


