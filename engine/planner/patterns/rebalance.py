"""Rebalance: trim the overweight names and top up the underweight ones."""
from __future__ import annotations

from engine.planner.context import Candidates, PlanContext
from engine.planner.pattern_tools import nonempty, top
from engine.planner.registry import PATTERNS
from engine.planner.types import Action


@PATTERNS.register("rebalance")
def rebalance(ctx: PlanContext, cands: Candidates) -> list[list[Action]]:
    return nonempty(top(cands, "rebalance_sells", ctx) + top(cands, "rebalance_buys", ctx))
