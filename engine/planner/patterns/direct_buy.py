"""Direct buy: each of the best buys on its own, paid from cash."""
from __future__ import annotations

from engine.planner.context import Candidates, PlanContext
from engine.planner.pattern_tools import buys
from engine.planner.registry import PATTERNS
from engine.planner.types import Action


@PATTERNS.register("direct_buy")
def direct_buy(ctx: PlanContext, cands: Candidates) -> list[list[Action]]:
    return [[a] for a in buys(cands, ctx)]
