"""Correlation aware: drop sequences whose buys concentrate highly correlated names (with each other or
with a holding the sequence keeps), correlation of recent daily returns above the threshold."""
from __future__ import annotations

import numpy as np

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
    high = ctx.returns[names].corr().fillna(0.0).to_numpy() > threshold
    index = {name: i for i, name in enumerate(names)}
    held = np.array([index[s] for s in ctx.state.positions if s in index], dtype=int)
    out = []
    for seq in seqs:
        sold_out = {a.symbol for a in seq.actions if a.side == SELL and a.qty >= ctx.held(a.symbol)}
        bought = np.array([index[a.symbol] for a in seq.actions if a.side == BUY and a.symbol in index], dtype=int)
        kept = np.array([i for i in held if names[i] not in sold_out], dtype=int)
        # any bought pair, or any bought name against a kept holding, correlated above the threshold
        # (a buy of a holding is not compared with that holding)
        against_kept = high[np.ix_(bought, kept)] & (bought[:, None] != kept[None, :])
        if not bought.size or not (np.triu(high[np.ix_(bought, bought)], 1).any() or against_kept.any()):
            out.append(seq)
    return out
