"""Planner store on SQLite and PostgreSQL: user preset versions (diff, restore, audit), the regime ->
preset table, stored plans, and send_plan through the real gateway under each trading state."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.clock import ManualClock
from engine.cycle import EngineCycle
from engine.planner.api import (
    PlanResult,
    PlanStep,
    PresetError,
    diff_presets,
    list_presets,
    preset_for_regime,
    preset_versions,
    recent_plans,
    regime_preset_table,
    restore_preset_version,
    save_user_preset,
    send_plan,
    set_regime_preset_table,
    store_plan,
)
from engine.runtime import build_context
from engine.settings import load_settings
from engine.store.models import AuditEvent, OrderRow
from engine.trading import state as trading_state
from engine.trading.state import TradingState
from tests.engine_run import run_recorded_ticks


@pytest.fixture
def ctx(any_db_url: str):  # type: ignore[no-untyped-def]
    context = build_context(load_settings(database_url=any_db_url, warmup_polls=300), with_source=True,
                            migrate=True, clock=ManualClock())
    run_recorded_ticks(context, 1)
    return context


def test_user_preset_versions_diff_restore_and_audit(ctx) -> None:  # type: ignore[no-untyped-def]
    now = ctx.clock.now()
    assert save_user_preset(ctx.store, now, "alice", "mine", "default", {"risk_appetite": 0.2}, {}) == 1
    assert save_user_preset(ctx.store, now, "bob", "mine", "default", {"risk_appetite": 0.9},
                            {"costs.fixed": 2.0}) == 2
    with pytest.raises(PresetError, match="'costs.fixed' = -5"):
        save_user_preset(ctx.store, now, "bob", "mine", "default", {}, {"costs.fixed": -5})
    with pytest.raises(PresetError, match="built-in"):
        save_user_preset(ctx.store, now, "bob", "default", "default", {}, {})
    with ctx.store.read() as session:
        versions = preset_versions(session, "mine")
        presets = list_presets(session)
    assert [(v.version, v.author) for v in versions] == [(1, "alice"), (2, "bob")]
    assert presets["mine"].sliders["risk_appetite"] == 0.9 and presets["mine"].params["costs.fixed"] == 2.0
    assert set(presets) == {"default", "conservative", "aggressive", "mine"}
    assert restore_preset_version(ctx.store, now, "carol", "mine", 1) == 3
    with ctx.store.read() as session:
        restored = list_presets(session)["mine"]
        audits = list(session.scalars(select(AuditEvent).where(AuditEvent.action == "planner.save_preset")))
    assert restored.sliders["risk_appetite"] == 0.2 and restored.params["costs.fixed"] == 1.0
    diff = dict((k, (a, b)) for k, a, b in diff_presets(restored, presets["mine"]))
    assert diff["costs.fixed"] == (1.0, 2.0) and diff["sliders.risk_appetite"] == (0.2, 0.9)
    assert [(a.actor, a.target) for a in audits] == [("alice", "mine"), ("bob", "mine"), ("carol", "mine")]


def test_regime_preset_table_defaults_validates_and_explains(ctx) -> None:  # type: ignore[no-untyped-def]
    now = ctx.clock.now()
    with ctx.store.read() as session:
        assert regime_preset_table(session, ("Bull", "Bear")) == {"Bear": "default", "Bull": "default"}
        preset, why = preset_for_regime(session, "Bull")
    assert preset.name == "default" and "default applies" in why
    set_regime_preset_table(ctx.store, now, "alice", {"Bull": "aggressive", "Bear": "conservative"})
    with pytest.raises(PresetError, match="regime 'Bull': unknown preset 'nope'"):
        set_regime_preset_table(ctx.store, now, "alice", {"Bull": "nope"})
    with ctx.store.read() as session:
        assert regime_preset_table(session, ("Bull", "Bear", "Side")) == {
            "Bear": "conservative", "Bull": "aggressive", "Side": "default"}  # the refused edit changed nothing
        preset, why = preset_for_regime(session, "Bear")
        audited = session.scalars(select(AuditEvent).where(AuditEvent.action == "planner.set_regime_presets")).all()
    assert preset.name == "conservative" and why == "regime Bear -> preset conservative (set by alice)"
    assert len(audited) == 1 and audited[0].actor == "alice"


def _plan(symbols: list[str], relaxed: str | None = None) -> PlanResult:
    steps = [PlanStep(symbols[0], "sell", 1, 10.0, 10.0, "trend", "multi_sell", "test", 1000.0),
             PlanStep(symbols[1], "buy", 2, 10.0, 20.0, "trend", "direct_buy", "test", 980.0)]
    return PlanResult(steps, {"total": 1.0}, [], 3, 1.5, "default", "Bull", "test", {}, {}, 0.0, relaxed=relaxed)


def test_send_plan_obeys_the_trading_state_and_keeps_order(ctx) -> None:  # type: ignore[no-untyped-def]
    symbols = sorted(ctx.source.symbols())[:2]
    plan = _plan(symbols)
    with ctx.store.write() as session:
        trading_state.change(session, ctx.clock.now(), TradingState.HALTED, "alice", "test")
    halted = send_plan(ctx, plan, "alice", key="k1")
    assert [o.status for o in halted] == ["blocked", "blocked"] and "HALTED" in halted[0].message
    with ctx.store.write() as session:
        trading_state.change(session, ctx.clock.now(), TradingState.REDUCING, "alice", "test")
    reducing = send_plan(ctx, plan, "alice", key="k2")
    assert reducing[0].status != "blocked" and reducing[1].status == "blocked"
    assert "REDUCING" in reducing[1].message
    with ctx.store.write() as session:
        trading_state.change(session, ctx.clock.now(), TradingState.ACTIVE, "alice", "test")
    active = send_plan(ctx, plan, "alice", key="k3")
    assert all(o.status != "blocked" for o in active)
    assert send_plan(ctx, _plan(symbols, relaxed="max_order_notional x1.5"), "alice", key="k4")[0].status == "not_sent"
    with ctx.store.read() as session:
        orders = [(o.symbol, o.side) for o in session.scalars(select(OrderRow).order_by(OrderRow.id))]
    assert orders == [(symbols[0], "sell"), (symbols[0], "sell"), (symbols[1], "buy")]


def test_stored_plans_round_trip(ctx) -> None:  # type: ignore[no-untyped-def]
    plan = _plan(["AAA", "BBB"])
    with ctx.store.write() as session:
        store_plan(session, ctx.clock.now(), plan, "web", {"risk_appetite": 0.3}, 7, executed=False)
    with ctx.store.read() as session:
        stored = recent_plans(session)
    assert len(stored) == 1
    row = stored[0]
    assert (row.preset, row.regime, row.sliders, row.param_version_id, row.sequences_evaluated) == (
        "default", "Bull", {"risk_appetite": 0.3}, 7, 3)
    assert [s["symbol"] for s in row.steps] == ["AAA", "BBB"] and row.steps[1]["cash_after"] == 980.0


def test_close_position_sells_the_whole_position_through_the_gateway(ctx) -> None:  # type: ignore[no-untyped-def]
    from decimal import Decimal

    from engine.planner.api import close_position
    from engine.trading.brokers.base import OrderSide
    from engine.trading.gateway import OrderIntent, submit
    from engine.trading.sync import sync_from_broker

    symbol = sorted(ctx.source.symbols())[0]
    assert close_position(ctx, symbol, "alice", key="c0").status == "not_sent"
    bought = submit(ctx, OrderIntent(symbol, OrderSide.BUY, Decimal(7), reason="t",
                                     idempotency_key="b1"), actor="alice", origin="manual")
    assert bought.accepted
    cycle = EngineCycle()
    for _ in range(2):  # the paper broker fills on the next bar
        ctx.clock.advance(1.0)
        cycle.market(ctx)
        sync_from_broker(ctx)
    with ctx.store.write() as session:
        trading_state.change(session, ctx.clock.now(), TradingState.HALTED, "alice", "test")
    assert close_position(ctx, symbol, "alice", key="c1").status == "rejected"
    with ctx.store.write() as session:
        trading_state.change(session, ctx.clock.now(), TradingState.REDUCING, "alice", "test")
    out = close_position(ctx, symbol, "alice", key="c2")
    assert out.status != "rejected" and out.side == "sell" and out.qty == 7.0, out.message
