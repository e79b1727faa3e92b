"""Adaptive: the variant the portfolio's state calls for (idle cash -> buys, short of cash -> sells,
concentrated -> rebalance, otherwise a mix)."""
from __future__ import annotations

from engine.planner.context import Candidates, PlanContext
from engine.planner.pattern_tools import buys, nonempty, sells, top
from engine.planner.registry import PATTERNS
from engine.planner.types import Action


@PATTERNS.register("adaptive")
def adaptive(ctx: PlanContext, cands: Candidates) -> list[list[Action]]:
    cash_weight = ctx.state.cash / ctx.equity if ctx.equity > 0 else 0.0
    hhi = sum(w * w for w in ctx.weights.values())
    depth = int(ctx.p("sequences.max_depth"))
    if cash_weight > 0.3:
        return nonempty(buys(cands, ctx)[:depth])
    if cash_weight < ctx.p("targets.cash_reserve"):
        return nonempty(sells(cands, ctx)[:depth])
    if hhi > 2 * ctx.p("targets.max_weight") ** 2 * max(1, len(ctx.weights)):
        return nonempty(top(cands, "rebalance_sells", ctx) + top(cands, "rebalance_buys", ctx))
    return nonempty(sells(cands, ctx)[:1] + buys(cands, ctx)[:1])
