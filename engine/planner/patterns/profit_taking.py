"""Profit taking: sell the windfalls, then reinvest the proceeds in the best buy."""
from __future__ import annotations

from engine.planner.context import Candidates, PlanContext
from engine.planner.pattern_tools import buys, nonempty, top
from engine.planner.registry import PATTERNS
from engine.planner.types import SELL, Action


@PATTERNS.register("profit_taking")
def profit_taking(ctx: PlanContext, cands: Candidates) -> list[list[Action]]:
    windfalls = top(cands, "profit_taking", ctx, SELL)
    if not windfalls:
        return []
    return nonempty(windfalls, windfalls + buys(cands, ctx)[:1])
