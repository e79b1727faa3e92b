"""A short position outside the target universe (target 0%) used to crash every plan: rebalance_buys divided the gap
by its zero target. The short is now bought back toward flat, scored as the whole gap (1.0)."""
from __future__ import annotations

from engine.planner import synthetic
from engine.planner.calculators.rebalance_buys import rebalance_buys
from engine.planner.context import build_context
from engine.planner.planner import build_planner
from engine.planner.preset import compose_preset, load_preset
from engine.planner.types import BUY, Holding, PortfolioState

HISTORY = synthetic.history(symbols=8, seed=3)
OPENED = synthetic.NOW.replace(year=synthetic.NOW.year - 1)


def _state() -> PortfolioState:
    """Four longs of about 20,000 and a 1,000-share short in S04; universe_size=1 leaves S04 without a target."""
    last = HISTORY.iloc[-1]
    positions = {str(s): Holding(str(s), float(int(20_000 / last[s])), float(last[s]), OPENED)
                 for s in HISTORY.columns[:4]}
    positions["S04"] = Holding("S04", -1000.0, float(last["S04"]), OPENED)
    return PortfolioState(positions=positions, cash=150_000.0, history=HISTORY, now=synthetic.NOW)


NARROW = compose_preset(load_preset("default"), {}, {"targets.universe_size": 1})


def test_rebalance_buys_covers_a_short_without_a_target() -> None:
    ctx = build_context(_state(), NARROW.params)
    assert ctx.targets.get("S04", 0.0) == 0.0 and ctx.weights["S04"] < -0.05  # no target, short beyond the band
    # by hand: the gap to a 0% target is 1000 x price, i.e. buy back all 1,000 shares; with no target the whole gap
    # is the score, 1.0
    cover = [a for a in rebalance_buys(ctx) if a.symbol == "S04"]
    assert [(a.side, a.qty, a.score) for a in cover] == [(BUY, 1000.0, 1.0)]


def test_a_plan_on_a_portfolio_with_a_short_outside_the_universe_does_not_fail() -> None:
    plan = build_planner(NARROW).plan(_state())
    held = {"S04": -1000.0}
    for step in plan.steps:  # a buy of the short never flips it long (the gateway's no-flip rule)
        if step.symbol == "S04":
            held["S04"] += step.qty if step.side == BUY else -step.qty
    assert held["S04"] <= 0.0 and plan.sequences_evaluated >= 1
