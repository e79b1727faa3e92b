"""The engine's planner job: plan with the preset the regime -> preset table selects, store every plan,
and send it (sells first, through the gateway) only when auto-trading is on and the state is ACTIVE."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict

from sqlalchemy import bindparam, delete, func, select

from engine.context import EngineContext
from engine.lease import check_fence
from engine.params.versions import active_params
from engine.planner.execute import send_plan
from engine.planner.plan_store import store_plan
from engine.planner.planner import build_planner
from engine.planner.portfolio import portfolio_state
from engine.planner.preset_store import preset_for_regime
from engine.planner.send_guard import portfolio_stamp
from engine.planner.types import PlanResult
from engine.store.models import BarRow, PlannerPlan
from engine.trading.brokers.base import OrderType
from engine.trading.risk_limits import RiskLimits

log = logging.getLogger(__name__)
PLANNER_ACTOR = "system:planner"
KEEP_PLANS = 10_000
# The type the gate asks the broker about: what the plan's orders go out as. Immediate presets send market
# orders, and a sliced preset sends small orders at once and ends each parent with a sweep, both market (only
# its children in between are limits). Probing with a limit said "yes" in extended hours, and every market
# order was then refused until the rejection trigger halted the desk; so the planner waits for the open.
PLANNER_ORDER_TYPE = OrderType.MARKET
# Built once: both run every cycle, and building a statement cost more than running it (SQLite).
_NEWEST_BAR = select(func.max(BarRow.ts))
_PRUNE_PLANS = delete(PlannerPlan).where(PlannerPlan.id <= bindparam("oldest"))


def run_planner_job(ctx: EngineContext, leading: Callable[[], bool] = lambda: True) -> PlanResult | None:
    with ctx.store.read() as session:
        params = active_params(session)
        state = portfolio_state(session, params, bars=ctx.bars, calendar=getattr(ctx.source, "calendar", None))
        preset, why = preset_for_regime(session, state.regime, state.regime_hold)
        cycle_ts = session.scalar(_NEWEST_BAR)
        # what the plan is made on: a trader's Send of a plan on the same portfolio then cannot also go out
        stamp = portfolio_stamp(session) if ctx.settings.autotrade and ctx.other_senders else None
    if state.history.empty:
        return None
    plan = build_planner(preset).plan(state, why)
    accepts = getattr(ctx.broker, "accepts_orders_now", None)  # Alpaca, paper with XNYS: clock and session
    execute = (bool(ctx.settings.autotrade) and state.trading_state == "ACTIVE" and bool(plan.steps)
               and (accepts is None or accepts(PLANNER_ORDER_TYPE)))
    with ctx.store.write() as session:
        check_fence(session, ctx)  # only the engine holding the lease records plans
        row = store_plan(session, ctx.clock.now(), plan, "engine", preset.sliders, params.version_id, executed=execute)
        plan_id = row.id
        session.execute(_PRUNE_PLANS, {"oldest": plan_id - KEEP_PLANS})
    if not execute:
        return plan
    key = f"{preset.name}:{cycle_ts.isoformat() if cycle_ts else 'none'}"
    # made on params.version_id: once another version is active the gateway refuses the rest ("re-plan"), and the
    # next cycle plans on it (engine/trading/order_limits.py)
    outcomes = send_plan(ctx, plan, PLANNER_ACTOR, origin="planner", key=key,
                         limits=RiskLimits.from_params(params), param_version_id=params.version_id, leading=leading,
                         claim=stamp)
    with ctx.store.write() as session:
        stored = session.get(PlannerPlan, plan_id)
        if stored is not None:
            stored.outcomes = [asdict(o) for o in outcomes]
    log.info("plan %s (%s): %d steps sent", plan_id, preset.name, len(outcomes))
    return plan
