"""Correlation aware: drop sequences whose buys concentrate highly correlated names (with each other or
with a holding the sequence keeps), correlation of recent daily returns above the threshold."""
from __future__ import annotations

from engine.planner.context import PlanContext
from engine.planner.registry import FILTERS
from engine.planner.types import BUY, SELL, Sequence


@FILTERS.register("correlation_aware")
def correlation_aware(ctx: PlanContext, seqs: list[Sequence]) -> list[Sequence]:
    threshold = ctx.p("filters.correlation_aware.threshold")
    buys_all = {a.symbol for s in seqs for a in s.actions if a.side == BUY}
    if not buys_all or len(ctx.returns) < 10:
        return seqs
    names = sorted((buys_all | set(ctx.state.positions)) & set(ctx.returns.columns))
    matrix = ctx.returns[names].corr().fillna(0.0).to_numpy()
    index = {name: i for i, name in enumerate(names)}
    out = []
    for seq in seqs:
        sold_out = {a.symbol for a in seq.actions if a.side == SELL and a.qty >= ctx.held(a.symbol)}
        bought = [index[a.symbol] for a in seq.actions if a.side == BUY and a.symbol in index]
        kept = [index[s] for s in ctx.state.positions if s not in sold_out and s in index]
        clash = any(matrix[b, o] > threshold for i, b in enumerate(bought)
                    for o in bought[i + 1:] + [k for k in kept if k != b])
        if not clash:
            out.append(seq)
    return out
