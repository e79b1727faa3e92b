"""Rebalance sells: trim positions above their target weight by more than the band (no target = 0%)."""
from __future__ import annotations

from engine.planner.actions import ranked, toward_weight
from engine.planner.context import PlanContext
from engine.planner.registry import CALCULATORS
from engine.planner.types import Action


@CALCULATORS.register("rebalance_sells")
def rebalance_sells(ctx: PlanContext) -> list[Action]:
    band = ctx.p("calculators.rebalance_sells.band")
    out = []
    for symbol in ctx.state.positions:
        weight, target = ctx.weights.get(symbol, 0.0), ctx.targets.get(symbol, 0.0)
        if weight - target > band:
            out.append(toward_weight(symbol, target, ctx, (weight - target) / max(weight, 1e-9), "rebalance_sells",
                                     f"overweight: {weight:.1%} vs target {target:.1%} (band {band:.1%})"))
    return ranked(out)
