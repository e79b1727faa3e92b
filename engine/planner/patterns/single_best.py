"""Single best: the one highest-scored action of any calculator."""
from __future__ import annotations

from engine.planner.context import Candidates, PlanContext
from engine.planner.registry import PATTERNS
from engine.planner.types import Action


@PATTERNS.register("single_best")
def single_best(ctx: PlanContext, cands: Candidates) -> list[list[Action]]:
    pool = [a for actions in cands.values() for a in actions[:1]]
    return [[max(pool, key=lambda a: (a.score, a.symbol))]] if pool else []
