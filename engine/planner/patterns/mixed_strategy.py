"""Mixed strategy: one or two sells funding one or two buys."""
from __future__ import annotations

from engine.planner.context import Candidates, PlanContext
from engine.planner.pattern_tools import buys, nonempty, sells
from engine.planner.registry import PATTERNS
from engine.planner.types import Action


@PATTERNS.register("mixed_strategy")
def mixed_strategy(ctx: PlanContext, cands: Candidates) -> list[list[Action]]:
    s, b = sells(cands, ctx)[:2], buys(cands, ctx)[:2]
    if not s or not b:
        return []
    return nonempty(*(s[:i] + b[:j] for i in (1, 2) for j in (1, 2) if i <= len(s) and j <= len(b)))
