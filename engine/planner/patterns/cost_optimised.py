"""Cost optimised: the fewest trades with the most score per unit of cost (singles and the best pair)."""
from __future__ import annotations

from engine.planner.context import Candidates, PlanContext
from engine.planner.pattern_tools import nonempty, unique
from engine.planner.registry import PATTERNS
from engine.planner.types import Action


@PATTERNS.register("cost_optimised")
def cost_optimised(ctx: PlanContext, cands: Candidates) -> list[list[Action]]:
    fixed, prop = ctx.p("costs.fixed"), ctx.p("costs.proportional")
    pool = unique(sorted((a for actions in cands.values() for a in actions),
                         key=lambda a: (-a.score * a.notional / (fixed + prop * a.notional + 1e-9), a.symbol)))
    return nonempty(*([a] for a in pool[:2])) + (nonempty(pool[:2]) if len(pool) > 1 else [])
