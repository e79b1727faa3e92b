"""Multi sell: every good sell together (windfalls, overweights, fading trends)."""
from __future__ import annotations

from engine.planner.context import Candidates, PlanContext
from engine.planner.pattern_tools import nonempty, sells
from engine.planner.registry import PATTERNS
from engine.planner.types import Action


@PATTERNS.register("multi_sell")
def multi_sell(ctx: PlanContext, cands: Candidates) -> list[list[Action]]:
    found = sells(cands, ctx)
    return nonempty(found) if len(found) > 1 else []
