"""Send plan through engine.execution.modes.send_trade, on SQLite and PostgreSQL, through the real gateway and
paper broker: the preset in force chooses the execution style in config/execution.toml. "conservative" works
an order worth at least 50,000 as a TWAP parent (6 slices over 1800 s, limit children 10 bps through the last
price); "default" sends one market order. Every expected quantity is worked out in the comments."""
from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

import pytest
from sqlalchemy import func, select

from engine.execution.parents import work_parents
from engine.planner.execute import SendOutcome, send_plan
from engine.planner.types import PlanResult, PlanStep
from engine.store.models import OrderRow, ParentChild, ParentOrder, RegimeSnapshot
from engine.trading import state as trading_state
from engine.trading.state import TradingState
from tests.integration.test_execution_db import LIMITS, bar, build, buy, orders


@pytest.fixture()
def ctx(any_db_url, tmp_path):  # type: ignore[no-untyped-def]
    c = build(any_db_url, tmp_path)
    yield c
    c.store.dispose()


def plan(preset: str, *steps: tuple[str, float]) -> PlanResult:
    """A plan of AAA trades at 100 (side, qty) under `preset`."""
    rows = [PlanStep("AAA", side, qty, 100.0, qty * 100.0, "trend", "direct", "test", 0.0) for side, qty in steps]
    return PlanResult(rows, {}, [], 1, 0.0, preset, None, "test", {}, {}, 0.0)


def parents(ctx) -> list[ParentOrder]:  # type: ignore[no-untyped-def]
    with ctx.store.read() as s:
        return list(s.scalars(select(ParentOrder).order_by(ParentOrder.id)))


def test_a_sliced_preset_sends_a_parent_whose_children_add_up_to_the_step(ctx) -> None:  # type: ignore[no-untyped-def]
    # buy 1000 x 100 = 100,000 >= 50,000: a parent; sell 30 x 100 = 3,000 < 50,000: one order at once
    buy(ctx, 30)
    out = send_plan(ctx, plan("conservative", ("sell", 30), ("buy", 1000)), "system:planner", key="k1", limits=LIMITS)
    assert [o.status for o in out] == ["new", "sliced"], out
    (parent,) = parents(ctx)
    assert out[1].message == (f"sliced: parent {parent.id} (twap: 6 children over 30 min, "
                              f"{parent.start_at:%H:%M}-{parent.end_at:%H:%M} UTC)")
    # 1000 / 6 on the cumulative curve, rounded half up: 166.67 -> 167, 333.33 -> 333, 500, 666.67 -> 667, 833.33 -> 833
    assert [q for _t, q in parent.schedule] == ["167", "333", "500", "667", "833", "1000"]
    assert (parent.qty, parent.side, parent.origin, parent.actor) == (D(1000), "buy", "planner", "system:planner")
    assert [(o.side, o.qty) for o in orders(ctx, "planner")] == [("sell", D(30))]  # the buy is not one order
    for _ in range(7):  # one slice every 300 s: each child (a limit at 100.10) fills on the next bar at 100
        work_parents(ctx)
        bar(ctx, 100, 100, 100, 100, seconds=300)
    work_parents(ctx)
    kids = [o for o in orders(ctx, "planner") if o.side == "buy"]
    assert [k.qty for k in kids] == [D(167), D(166), D(167), D(167), D(166), D(167)]
    assert sum(k.filled_qty for k in kids) == D(1000) and {k.limit_price for k in kids} == {D("100.10")}
    assert parents(ctx)[0].status == "done"


def test_the_same_key_never_makes_a_second_parent_or_order(ctx) -> None:  # type: ignore[no-untyped-def]
    buy(ctx, 30)
    shown = plan("conservative", ("sell", 30), ("buy", 1000))
    first = send_plan(ctx, shown, "system:planner", key="k2", limits=LIMITS)
    again = send_plan(ctx, shown, "system:planner", key="k2", limits=LIMITS)
    (parent,) = parents(ctx)
    assert first[1].status == "sliced" and first[1].message.startswith(f"sliced: parent {parent.id} (twap")
    # the second Send placed nothing new: both steps say so, so the page counts 0 of 2 sent and stores no new plan
    assert [o.status for o in again] == ["duplicate", "duplicate"] and again[0].message == "already sent"
    assert again[1].message == "already " + first[1].message.replace("sliced: ", "sent: ", 1)
    assert len(parents(ctx)) == 1 and len(orders(ctx, "planner")) == 1
    send_plan(ctx, shown, "system:planner", key="k3", limits=LIMITS)  # a new key is a new plan
    assert len(parents(ctx)) == 2


def test_an_immediate_preset_sends_one_order(ctx) -> None:  # type: ignore[no-untyped-def]
    out = send_plan(ctx, plan("default", ("buy", 1000)), "system:planner", key="k4", limits=LIMITS)
    assert [o.status for o in out] == ["new"] and parents(ctx) == []
    assert [(o.side, o.qty, o.order_type) for o in orders(ctx, "planner")] == [("buy", D(1000), "market")]


def test_a_user_preset_slices_like_its_base(ctx) -> None:  # type: ignore[no-untyped-def]
    from engine.planner.preset_store import save_user_preset

    save_user_preset(ctx.store, ctx.clock.now(), "alice", "careful", "conservative", {}, {})
    out = send_plan(ctx, plan("careful", ("buy", 600)), "system:planner", key="k5", limits=LIMITS)  # 60,000
    assert [o.status for o in out] == ["sliced"] and parents(ctx)[0].qty == D(600)


def test_reducing_slices_an_exit_and_blocks_a_buy_and_halted_sends_nothing(ctx) -> None:  # type: ignore[no-untyped-def]
    buy(ctx, 1000)
    with ctx.store.write() as s:
        trading_state.change(s, ctx.clock.now(), TradingState.REDUCING, "bob", "drawdown")
    out = send_plan(ctx, plan("conservative", ("sell", 600), ("buy", 600)), "system:planner", key="k6",
                    limits=LIMITS)
    assert [o.status for o in out] == ["sliced", "blocked"] and "only exits" in out[1].message
    assert [(p.side, p.qty) for p in parents(ctx)] == [("sell", D(600))]
    with ctx.store.write() as s:
        trading_state.change(s, ctx.clock.now(), TradingState.HALTED, "bob", "kill switch")
    out = send_plan(ctx, plan("conservative", ("sell", 400)), "system:planner", key="k7", limits=LIMITS)
    assert out == [SendOutcome("AAA", "sell", 400, "blocked", "trading is HALTED: nothing is sent")]
    with ctx.store.read() as s:
        assert len(parents(ctx)) == 1 and s.scalar(select(func.count()).select_from(ParentChild)) == 0
        assert s.scalar(select(func.count()).select_from(OrderRow).where(OrderRow.origin == "planner")) == 0


def test_a_bucket_step_uses_its_bucket_presets_execution(ctx) -> None:  # type: ignore[no-untyped-def]
    # a bucketed preset (not in config/execution.toml: "default", immediate) with a conservative satellite
    shown = plan("split", ("buy", 600), ("buy", 700))
    shown.steps = [replace(shown.steps[0], bucket="core"), replace(shown.steps[1], bucket="satellite")]
    shown.buckets = {"core": "default", "satellite": "conservative"}
    out = send_plan(ctx, shown, "system:planner", key="k8", limits=LIMITS)
    assert [o.status for o in out] == ["new", "sliced"]  # 700 x 100 = 70,000 >= 50,000 under conservative
    assert [(p.qty, p.mode) for p in parents(ctx)] == [(D(700), "twap")]


def test_a_backtest_keeps_an_edited_presets_base_so_its_execution_follows(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from engine.backtest.presets import use_presets
    from engine.backtest.private import backtest_settings, private_context
    from engine.backtest.sample import simulated_frames
    from engine.backtest.source import FrameReplaySource
    from engine.execution.tick import active_preset_name
    from engine.planner.api import compose_preset, load_preset, preset_for_regime

    edited = compose_preset(load_preset("conservative"), {"risk_appetite": 0.3}, {}, name="careful")
    source = FrameReplaySource(simulated_frames(5), "IDX")
    bctx, _clock = private_context(tmp_path, source, backtest_settings(tmp_path, 1000.0, 2.0, 0.005, 0.25))
    try:
        use_presets(bctx, edited, {}, ["Bullish_Low_Vol"])
        with bctx.store.write() as s:  # the regime stage's verdict, so the table is in force
            s.add(RegimeSnapshot(ts=bctx.clock.now(), symbol="IDX", regime_id=1, regime_name="Bullish_Low_Vol",
                                 confidence=0.9, raw_score=0.5, volatility_value=0.1, volatility_class="Low",
                                 trend_value=0.5, trend_class="Bullish", time_in_regime_s=0.0))
        with bctx.store.read() as s:
            chosen, _why = preset_for_regime(s, "Bullish_Low_Vol")
        assert chosen.params == edited.params and chosen.base == "conservative"
        assert active_preset_name(bctx) == "conservative"  # its stops and slicing apply in the run
    finally:
        bctx.store.dispose()
