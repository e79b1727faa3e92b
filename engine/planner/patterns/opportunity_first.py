"""Opportunity first: the best new entries, funded by the weakest holdings if cash is short."""
from __future__ import annotations

from engine.planner.context import Candidates, PlanContext
from engine.planner.pattern_tools import nonempty, sells, top
from engine.planner.registry import PATTERNS
from engine.planner.types import BUY, Action


@PATTERNS.register("opportunity_first")
def opportunity_first(ctx: PlanContext, cands: Candidates) -> list[list[Action]]:
    entries = top(cands, "opportunity_buys", ctx, BUY)
    if not entries:
        return []
    need = sum(a.notional for a in entries) - ctx.state.cash
    funding, raised = [], 0.0
    for sell in sells(cands, ctx):
        if raised >= need:
            break
        funding.append(sell)
        raised += sell.notional
    return nonempty(entries, funding + entries) if funding else nonempty(entries)
