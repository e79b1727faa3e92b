"""The engine's planner job trades through the modular planner: plans are stored with their preset,
regime, parameter version and timings; orders go out (sells first) only when auto-trading is on and
the state is ACTIVE."""
from __future__ import annotations

from sqlalchemy import select

from engine import jobs
from engine.clock import ManualClock
from engine.cycle import EngineCycle
from engine.planner.api import recent_plans, set_regime_preset_table
from engine.runtime import build_context
from engine.settings import load_settings
from engine.store.models import OrderRow, RegimeSnapshot
from engine.trading import state as trading_state
from engine.trading.state import TradingState
from tests.engine_run import run_recorded_ticks
from tests.regime_pin import pin_regime


def _context(url: str, **settings: object):  # type: ignore[no-untyped-def]
    return build_context(load_settings(database_url=url, warmup_polls=300, **settings), with_source=True,
                         migrate=True, clock=ManualClock())


def _warm(ctx) -> EngineCycle:  # type: ignore[no-untyped-def]
    cycle = run_recorded_ticks(ctx, 3)
    pin_regime(ctx, "Bullish_Med_Vol")  # a long bias: a fresh account with cash gets a plan that buys
    return cycle


def test_engine_job_plans_stores_and_sends_through_the_gateway(any_db_url: str) -> None:
    ctx = _context(any_db_url)
    cycle = _warm(ctx)
    assert jobs.run_recorded(ctx, "planner", cycle.planner)
    with ctx.store.read() as session:
        plans = recent_plans(session)
        orders = list(session.scalars(select(OrderRow).order_by(OrderRow.id)))
        regime = session.scalars(select(RegimeSnapshot).order_by(RegimeSnapshot.id.desc())).first()
    assert len(plans) == 1
    plan = plans[0]
    assert plan.preset == "default" and plan.executed and plan.sequences_evaluated >= 1 and plan.elapsed_ms > 0
    assert plan.param_version_id is not None and plan.regime == (regime.regime_name if regime else None)
    assert plan.steps, "a fresh paper account with cash should get a plan that buys"
    assert [(o.symbol, o.side) for o in orders] == [(s["symbol"], s["side"]) for s in plan.steps]
    assert all(o.origin == "planner" and o.actor == "system:planner" for o in orders)
    assert all(o.status != "rejected" for o in orders), [o.reject_reason for o in orders]
    assert [o["symbol"] for o in plan.outcomes] == [s["symbol"] for s in plan.steps]
    sides = [o.side for o in orders]
    assert sides == sorted(sides, key=lambda s: s != "sell")  # sells before buys


def test_engine_job_uses_the_regime_preset_table_and_sends_nothing_unless_active(any_db_url: str) -> None:
    ctx = _context(any_db_url)
    cycle = _warm(ctx)
    with ctx.store.read() as session:
        regime = session.scalars(select(RegimeSnapshot).order_by(RegimeSnapshot.id.desc())).first()
    assert regime is not None
    set_regime_preset_table(ctx.store, ctx.clock.now(), "alice", {regime.regime_name: "conservative"})
    with ctx.store.write() as session:
        trading_state.change(session, ctx.clock.now(), TradingState.REDUCING, "alice", "test")
    assert jobs.run_recorded(ctx, "planner", cycle.planner)
    with ctx.store.read() as session:
        plan = recent_plans(session)[0]
        assert session.scalars(select(OrderRow)).first() is None
    assert plan.preset == "conservative" and not plan.executed
    assert f"regime {regime.regime_name} -> preset conservative" in plan.preset_reason


def test_engine_job_stores_the_plan_but_sends_nothing_with_autotrade_off(any_db_url: str) -> None:
    ctx = _context(any_db_url, autotrade=False)
    cycle = _warm(ctx)
    assert jobs.run_recorded(ctx, "planner", cycle.planner)
    with ctx.store.read() as session:
        plans = recent_plans(session)
        assert session.scalars(select(OrderRow)).first() is None
    assert len(plans) == 1 and not plans[0].executed and plans[0].steps


def test_engine_job_sends_nothing_on_a_portfolio_a_traders_send_already_claimed(any_db_url: str) -> None:
    """A trader's Send and the engine's auto-trading at the same moment, on the same portfolio: the trader's claim
    came first (engine/planner/send_guard.py), so the engine's plan on that portfolio is refused as stale, not
    sent a second time."""
    from engine.planner.send_guard import claim_send, portfolio_stamp

    ctx = _context(any_db_url)
    cycle = _warm(ctx)
    with ctx.store.read() as session:
        stamp = portfolio_stamp(session)
    assert claim_send(ctx, stamp, "page-plan-1", "alice") is None  # the trader's send holds this portfolio
    assert jobs.run_recorded(ctx, "planner", cycle.planner)
    with ctx.store.read() as session:
        plan = recent_plans(session)[0]
        orders = list(session.scalars(select(OrderRow)))
    assert plan.steps and orders == []
    assert {o["status"] for o in plan.outcomes} == {"stale"}
