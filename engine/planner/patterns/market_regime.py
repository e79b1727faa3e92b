"""Market regime: bull -> trend and opportunity buys; bear -> sells (windfalls, overweights, fading trends);
sideways -> small rebalances. Off when the preset's regime sensitivity is below 0.2 or no regime is known."""
from __future__ import annotations

from engine.planner.context import Candidates, PlanContext
from engine.planner.pattern_tools import best, nonempty, top
from engine.planner.registry import PATTERNS
from engine.planner.types import BUY, SELL, Action


@PATTERNS.register("market_regime")
def market_regime(ctx: PlanContext, cands: Candidates) -> list[list[Action]]:
    if ctx.stance is None or ctx.sensitivity < 0.2:
        return []
    depth = int(ctx.p("sequences.max_depth"))
    if ctx.stance == "bull":
        return nonempty(best(cands, ctx, BUY, ("trend", "opportunity_buys"))[:depth])
    if ctx.stance == "bear":
        return nonempty(best(cands, ctx, SELL, ("profit_taking", "rebalance_sells", "trend"))[:depth])
    return nonempty(top(cands, "rebalance_sells", ctx)[:1] + top(cands, "rebalance_buys", ctx)[:1])
