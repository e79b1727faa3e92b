"""Weight based: every name (held or targeted) traded straight to its target weight when the gap is worth a trade."""
from __future__ import annotations

from engine.planner.actions import ranked, toward_weight
from engine.planner.context import PlanContext
from engine.planner.registry import CALCULATORS
from engine.planner.types import Action


@CALCULATORS.register("weight_based")
def weight_based(ctx: PlanContext) -> list[Action]:
    minimum = ctx.p("calculators.weight_based.min_trade_weight")
    cap = max(ctx.p("targets.max_weight"), 1e-9)
    out = []
    for symbol in sorted(set(ctx.targets) | set(ctx.state.positions)):
        gap = ctx.targets.get(symbol, 0.0) - ctx.weights.get(symbol, 0.0)
        if abs(gap) >= minimum:
            out.append(toward_weight(symbol, ctx.targets.get(symbol, 0.0), ctx, abs(gap) / cap, "weight_based",
                                     f"to target {ctx.targets.get(symbol, 0.0):.1%} from {ctx.weights.get(symbol, 0.0):.1%}"))
    return ranked(out)
