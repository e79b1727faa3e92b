"""Send a plan: each step in the planned order (sells first) through engine.execution.modes.send_trade, so the
preset's execution style applies (config/execution.toml: one gateway order at once, or a sliced parent whose
children are ordinary gateway orders) and every risk check applies. HALTED (or any state but ACTIVE/REDUCING)
sends nothing; REDUCING sends only exits; an uncertain regime under CONSERVATIVE handling (read when the plan is
sent) sends only exits; a buy against a short is an exit up to the cover (the short held, and with open orders: as
the gateway's REDUCING rule reads it), so a larger one is cut to the cover and says so; a relaxed ("what if") plan is never sent. Each step reports what happened and why."""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select

from engine import audit
from engine.context import EngineContext
from engine.execution.modes import ExecutionConfigError, ExecutionMode, for_preset, load_config, send_trade
from engine.planner.preset_store import list_presets
from engine.planner.send_guard import claim_send, release_claim
from engine.planner.types import BUY, PlanResult, PlanStep
from engine.store.current_regime import current_regime, uncertain_note
from engine.store.models import ParentOrder, PositionRow
from engine.trading import state as trading_state
from engine.trading.brokers.base import OrderSide
from engine.trading.gateway import GatewayResult, OrderIntent
from engine.trading.orders import open_order_deltas
from engine.trading.risk_limits import RiskLimits


@dataclass(frozen=True)
class SendOutcome:
    symbol: str
    side: str
    qty: float
    status: str  # a broker order status ("new", "filled", ...), "sliced", "rejected", "blocked", "not_sent", "stale",
    #         "duplicate" (the gateway had this step's order already: nothing new went out),
    #         "canceled_only" (Close position: it canceled orders and had nothing to send)
    message: str
    canceled: tuple[str, ...] = ()  # Close position: the orders it canceled first (engine/planner/close.py)


DUPLICATE = "duplicate"
# nothing new reached the broker: a send whose every step is one of these leaves the portfolio as it was, so it
# gives its claim back (a replay the gateway's idempotency keys fully deduplicated placed nothing either)
PLACED_NOTHING = ("blocked", "not_sent", "stale", DUPLICATE)


def _state(ctx: EngineContext) -> tuple[str, str | None]:
    """The trading state and, when the regime is uncertain under CONSERVATIVE handling, why no buy is sent."""
    with ctx.store.read() as session:
        hold = uncertain_note(current_regime(session))
        try:
            return trading_state.current(session).state.value, hold
        except LookupError:
            return "ACTIVE", hold


def execution_mode(ctx: EngineContext, preset: str, base: str = "") -> ExecutionMode:
    """The execution style of `preset` in config/execution.toml; a preset not listed there takes its `base`'s (a
    page-tuned "conservative (tuned)" says its base explicitly: its label is never parsed), else its stored user
    preset's base, and a preset with none of these takes "default"'s (immediate unless the file says otherwise)."""
    listed = load_config()
    if preset not in listed:
        if base in listed:
            return for_preset(base).execution
        with ctx.store.read() as session:
            found = list_presets(session).get(preset)
        preset = found.base if found is not None and found.base in listed else "default"
    return for_preset(preset).execution


def _parent_text(ctx: EngineContext, parent_id: int) -> str:
    with ctx.store.read() as session:
        row = session.get(ParentOrder, parent_id)
        if row is None:  # not expected: send_trade just created or found it
            return f"parent {parent_id}"
        minutes = (row.end_at - row.start_at).total_seconds() / 60
        how = f"{len(row.schedule)} children" if row.schedule else f"{row.participation} of market volume"
        return (f"parent {parent_id} ({row.mode}: {how} over {minutes:g} min, "
                f"{row.start_at:%H:%M}-{row.end_at:%H:%M} UTC)" + (f"; {row.note}" if row.note else ""))


def _short_of(ctx: EngineContext, symbol: str) -> float:
    """The whole shares a buy of `symbol` may cover: the smaller short of the position and of the position with our
    open orders (the gateway's `reduces` asks both); 0 when either is not short."""
    with ctx.store.read() as session:
        held = session.scalar(select(PositionRow.qty).where(PositionRow.symbol == symbol)) or Decimal(0)
        projected = held + open_order_deltas(session, symbol).get(symbol, Decimal(0))
    return float(math.floor(min(-held, -projected) + Decimal("1e-9"))) if held < 0 and projected < 0 else 0.0


def _gate(state: str, step: PlanStep, regime_hold: str | None = None, cover: float = 0.0) -> str | None:
    """Why `step` is not sent at all, or None. `cover`: the short a buy may cover (_short_of), an exit that REDUCING
    and an uncertain regime's hold let through (_cover_cut cuts a larger buy to it)."""
    if state not in ("ACTIVE", "REDUCING"):
        return f"trading is {state}: nothing is sent"
    if step.side != BUY or cover >= 1:
        return None
    if state == "REDUCING":
        return "trading is REDUCING: only exits are sent, this buy adds exposure"
    if regime_hold:
        return f"{regime_hold}; this buy adds exposure"
    return None


def _cover_cut(state: str, step: PlanStep, regime_hold: str | None, cover: float) -> tuple[float, str]:
    """(qty to send, why it is smaller): a buy past the short it covers is cut to the cover when only exits go."""
    if step.side != BUY or not (state == "REDUCING" or regime_hold) or step.qty <= cover:
        return step.qty, ""
    why = "trading is REDUCING: only exits are sent" if state == "REDUCING" else regime_hold
    return cover, (f"cut to {cover:,.0f}, the cover of the {step.symbol} short: {why}; the other "
                   f"{step.qty - cover:,.0f} would add exposure")


def _audit_blocked(ctx: EngineContext, out: list[SendOutcome], actor: str, origin: str, key: str) -> None:
    """A step the trading state refused never reaches the gateway, so it is audited here, like its order.rejected."""
    blocked = [o for o in out if o.status == "blocked"]
    if not blocked:
        return
    now = ctx.clock.now()
    with ctx.store.write() as session:
        for o in blocked:
            audit.record(session, now, actor, "order.blocked", target=o.symbol, outcome="blocked",
                         details={"side": o.side, "qty": str(o.qty), "origin": origin, "plan": key, "why": o.message})


def send_plan(ctx: EngineContext, plan: PlanResult, actor: str, origin: str = "planner", key: str = "",
              limits: RiskLimits | None = None, param_version_id: int | None = None,
              leading: Callable[[], bool] | None = None, claim: str | None = None) -> list[SendOutcome]:
    """`key` makes the sends idempotent (the same key and step never becomes a second order or parent). `claim`,
    the portfolio stamp the plan was made on, sends it only if no other plan made on that portfolio was sent
    (engine/planner/send_guard.py): the claim is taken before any order goes out."""
    if plan.relaxed:
        return [SendOutcome(s.symbol, s.side, s.qty, "not_sent",
                            f"a what-if plan ({plan.relaxed}) is never sent") for s in plan.steps]
    key = key or f"{plan.preset}:{ctx.clock.now().isoformat()}"
    if claim is not None and plan.steps:
        refused = claim_send(ctx, claim, key, actor)
        if refused is not None:
            return [SendOutcome(s.symbol, s.side, s.qty, "stale", refused) for s in plan.steps]
    out = _send_steps(ctx, plan, actor, origin, key, limits, param_version_id, leading)
    _audit_blocked(ctx, out, actor, origin, key)
    if claim is not None and all(o.status in PLACED_NOTHING for o in out):
        release_claim(ctx, claim, key)
    return out


def _send_steps(ctx: EngineContext, plan: PlanResult, actor: str, origin: str, key: str, limits: RiskLimits | None,
                param_version_id: int | None, leading: Callable[[], bool] | None) -> list[SendOutcome]:
    state, hold = _state(ctx)
    modes: dict[str, ExecutionMode | str] = {}
    out: list[SendOutcome] = []
    for i, step in enumerate(plan.steps):
        cover = _short_of(ctx, step.symbol) if step.side == BUY and (state == "REDUCING" or hold) else 0.0
        blocked = _gate(state, step, hold, cover)
        if blocked is not None:
            out.append(SendOutcome(step.symbol, step.side, step.qty, "blocked", blocked))
            continue
        qty, cut = _cover_cut(state, step, hold, cover)
        if leading is not None and not leading():
            out.append(SendOutcome(step.symbol, step.side, step.qty, "not_sent",
                                   "this engine's lease may have lapsed: another engine leads now"))
            continue
        preset = plan.buckets.get(step.bucket, plan.preset) if step.bucket else plan.preset
        if preset not in modes:
            try:
                modes[preset] = execution_mode(ctx, preset, plan.preset_base if preset == plan.preset else "")
            except ExecutionConfigError as exc:  # never a market order where the trader asked for slices
                modes[preset] = f"execution settings unreadable, nothing sent: {exc}"
        mode = modes[preset]
        if isinstance(mode, str):
            out.append(SendOutcome(step.symbol, step.side, step.qty, "not_sent", mode))
            continue
        intent = OrderIntent(symbol=step.symbol, side=OrderSide.BUY if step.side == BUY else OrderSide.SELL,
                             qty=Decimal(int(qty)), reason=f"{plan.preset}: {step.calculator}/{step.pattern}: "
                             f"{step.reason}"[:240], idempotency_key=f"{key}:{i}")
        price = Decimal(str(step.price)) if step.price > 0 else None
        kind, result = send_trade(ctx, intent, actor, origin, mode, price, limits, param_version_id)
        extra = f"; {cut}" if cut else ""
        if kind == "parent":
            out.append(SendOutcome(step.symbol, step.side, qty, "sliced",
                                   f"sliced: {_parent_text(ctx, int(result))}{extra}"))
        elif kind == "parent_known":  # this step's parent was made by an earlier Send of the same plan
            out.append(SendOutcome(step.symbol, step.side, qty, DUPLICATE,
                                   f"already sent: {_parent_text(ctx, int(result))}{extra}"))
        elif result.accepted:
            message = "already sent" if result.duplicate else f"sent ({result.client_order_id})"
            out.append(SendOutcome(step.symbol, step.side, qty, DUPLICATE if result.duplicate else result.status.value,
                                   message + (f": {result.reason}" if result.reason else "") + extra))
        else:
            out.append(SendOutcome(step.symbol, step.side, qty, "rejected", rejection_text(result) + extra))
    return out


def rejection_text(result: GatewayResult) -> str:
    """"<check>: <reason>", the check named once (a gateway reason may already start with it:
    "trading_state: trading is HALTED ...")."""
    check, reason = result.check or "gateway", result.reason or ""
    return reason if reason.startswith(f"{check}: ") else f"{check}: {reason}"
