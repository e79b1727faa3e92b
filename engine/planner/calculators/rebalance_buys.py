"""Rebalance buys: top up held positions below their target weight by more than the band. A short (negative
weight) below its target is bought back toward it; with no target (0%) the whole gap is the score (1.0): dividing
by that zero target crashed every plan while the account held a short outside the target universe."""
from __future__ import annotations

from engine.planner.actions import ranked, toward_weight
from engine.planner.context import PlanContext
from engine.planner.registry import CALCULATORS
from engine.planner.types import Action


@CALCULATORS.register("rebalance_buys")
def rebalance_buys(ctx: PlanContext) -> list[Action]:
    band = ctx.p("calculators.rebalance_buys.band")
    out = []
    for symbol in ctx.state.positions:
        weight, target = ctx.weights.get(symbol, 0.0), ctx.targets.get(symbol, 0.0)
        if target - weight > band:
            score = (target - weight) / target if target > 0 else 1.0
            out.append(toward_weight(symbol, target, ctx, score, "rebalance_buys",
                                     f"underweight: {weight:.1%} vs target {target:.1%} (band {band:.1%})"))
    return ranked(out)
