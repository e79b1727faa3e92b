"""Deep rebalance: move every name to its target weight at once (as deep as the preset allows)."""
from __future__ import annotations

from engine.planner.context import Candidates, PlanContext
from engine.planner.pattern_tools import nonempty
from engine.planner.registry import PATTERNS
from engine.planner.types import SELL, Action


@PATTERNS.register("deep_rebalance")
def deep_rebalance(ctx: PlanContext, cands: Candidates) -> list[list[Action]]:
    depth = int(ctx.p("sequences.max_depth")) * 2
    actions = sorted(cands.get("weight_based", []), key=lambda a: (a.side != SELL, -a.score))
    return nonempty(actions[:depth])
