"""Cash generation: when cash is below the preset's reserve, sell the best sells until it is restored."""
from __future__ import annotations

from engine.planner.context import Candidates, PlanContext
from engine.planner.pattern_tools import nonempty, sells
from engine.planner.registry import PATTERNS
from engine.planner.types import Action


@PATTERNS.register("cash_generation")
def cash_generation(ctx: PlanContext, cands: Candidates) -> list[list[Action]]:
    need = ctx.p("targets.cash_reserve") * ctx.equity - ctx.state.cash
    if need <= 0:
        return []
    chosen, raised = [], 0.0
    for sell in sells(cands, ctx):
        if raised >= need:
            break
        chosen.append(sell)
        raised += sell.notional
    return nonempty(chosen)
