"""Opportunity buys: open a position in an unheld target name whose trend quality is high enough."""
from __future__ import annotations

from engine.planner.actions import ranked, toward_weight
from engine.planner.context import PlanContext
from engine.planner.registry import CALCULATORS
from engine.planner.types import Action


@CALCULATORS.register("opportunity_buys")
def opportunity_buys(ctx: PlanContext) -> list[Action]:
    min_quality = ctx.p("calculators.opportunity_buys.min_quality")
    out = []
    for symbol, weight in ctx.targets.items():
        quality = ctx.quality.get(symbol, 0.0)
        if ctx.held(symbol) > 0 or quality < min_quality:
            continue
        out.append(toward_weight(symbol, weight, ctx, quality, "opportunity_buys",
                                 f"new entry: quality {quality:+.2f} >= {min_quality:+.2f}, target {weight:.1%}"))
    return ranked(out)
