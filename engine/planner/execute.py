"""Send a plan: each step through the order gateway in the planned order (sells first), so every risk check
applies. HALTED (or any state but ACTIVE/REDUCING) sends nothing; REDUCING sends only exits; a relaxed
("what if") plan is never sent. Each step reports what happened and why."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from engine.context import EngineContext
from engine.planner.types import BUY, PlanResult
from engine.trading import state as trading_state
from engine.trading.brokers.base import OrderSide
from engine.trading.gateway import OrderIntent, submit
from engine.trading.risk import RiskLimits


@dataclass(frozen=True)
class SendOutcome:
    symbol: str
    side: str
    qty: float
    status: str  # a broker order status ("new", "filled", ...), "rejected", "blocked" or "not_sent"
    message: str


def _state(ctx: EngineContext) -> str:
    with ctx.store.read() as session:
        try:
            return trading_state.current(session).state.value
        except LookupError:
            return "ACTIVE"


def send_plan(ctx: EngineContext, plan: PlanResult, actor: str, origin: str = "planner", key: str = "",
              limits: RiskLimits | None = None, param_version_id: int | None = None,
              leading: Callable[[], bool] | None = None) -> list[SendOutcome]:
    """`key` makes the orders idempotent (the same key and step never becomes a second order)."""
    if plan.relaxed:
        return [SendOutcome(s.symbol, s.side, s.qty, "not_sent",
                            f"a what-if plan ({plan.relaxed}) is never sent") for s in plan.steps]
    state = _state(ctx)
    key = key or f"{plan.preset}:{ctx.clock.now().isoformat()}"
    out: list[SendOutcome] = []
    for i, step in enumerate(plan.steps):
        if state not in ("ACTIVE", "REDUCING"):
            out.append(SendOutcome(step.symbol, step.side, step.qty, "blocked",
                                   f"trading is {state}: nothing is sent"))
            continue
        if state == "REDUCING" and step.side == BUY:
            out.append(SendOutcome(step.symbol, step.side, step.qty, "blocked",
                                   "trading is REDUCING: only exits are sent, this buy adds exposure"))
            continue
        if leading is not None and not leading():
            out.append(SendOutcome(step.symbol, step.side, step.qty, "not_sent",
                                   "this engine's lease may have lapsed: another engine leads now"))
            continue
        intent = OrderIntent(symbol=step.symbol, side=OrderSide.BUY if step.side == BUY else OrderSide.SELL,
                             qty=Decimal(int(step.qty)), reason=f"{plan.preset}: {step.calculator}/{step.pattern}: "
                             f"{step.reason}"[:240], idempotency_key=f"{key}:{i}")
        result = submit(ctx, intent, actor=actor, origin=origin, limits=limits, param_version_id=param_version_id)
        if result.accepted:
            message = "already sent" if result.duplicate else f"sent ({result.client_order_id})"
            out.append(SendOutcome(step.symbol, step.side, step.qty, result.status.value,
                                   message + (f": {result.reason}" if result.reason else "")))
        else:
            out.append(SendOutcome(step.symbol, step.side, step.qty, "rejected",
                                   f"{result.check or 'gateway'}: {result.reason}"))
    return out


def close_position(ctx: EngineContext, symbol: str, actor: str, key: str, origin: str = "manual",
                   limits: RiskLimits | None = None) -> SendOutcome:
    """A market order for the whole stored position of `symbol` (the Planner page's Close position), through
    the gateway like a manual order: its checks apply (HALTED refuses it; an exit passes REDUCING)."""
    from engine.store.models import PositionRow

    with ctx.store.read() as session:
        row = session.get(PositionRow, symbol)
        qty = row.qty if row is not None else Decimal(0)
    if qty == 0:
        return SendOutcome(symbol, "sell", 0.0, "not_sent", f"no open position in {symbol}")
    side = OrderSide.SELL if qty > 0 else OrderSide.BUY
    intent = OrderIntent(symbol=symbol, side=side, qty=abs(qty), reason="close position", idempotency_key=key)
    result = submit(ctx, intent, actor=actor, origin=origin, limits=limits)
    status = result.status.value if result.accepted else "rejected"
    message = (f"sent ({result.client_order_id})" if result.accepted else f"{result.check or 'gateway'}: {result.reason}")
    return SendOutcome(symbol, side.value, float(abs(qty)), status, message)
