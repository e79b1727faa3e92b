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
    listed = ctx.returns.columns.tolist()  # iterating a pandas Index element by element is slow
    names = sorted((buys_all | set(ctx.state.positions)) & set(listed))
    columns = {str(c): i for i, c in enumerate(listed)}
    x = ctx.matrix[:, [columns[n] for n in names]]
    x = x - x.mean(axis=0)
    cov = np.einsum("dk,dl->kl", x, x)  # einsum: no multithreaded BLAS (its threads spin on a shared machine)
    scale = np.sqrt(np.diag(cov))
    with np.errstate(invalid="ignore", divide="ignore"):  # a flat series has no correlation: 0, as before
        corr = cov / np.outer(scale, scale)
    high = np.nan_to_num(corr, nan=0.0) > threshold
    # per bought name, the names it clashes with (itself included when its own correlation counts)
    partners = {n: {names[j] for j in np.flatnonzero(high[i])} for i, n in enumerate(names) if n in buys_all}
    known = set(names)
    held = [s for s in ctx.state.positions if s in known]
    quantity = {s: h.qty for s, h in ctx.state.positions.items()}  # ctx.held(), read once per symbol
    out = []
    for seq in seqs:
        bought = [a.symbol for a in seq.actions if a.side == BUY and a.symbol in partners]
        if not bought:  # nothing bought that could clash: kept without working out what it sells
            out.append(seq)
            continue
        sold_out = {a.symbol for a in seq.actions if a.side == SELL and a.qty >= quantity.get(a.symbol, 0.0)}
        kept = {s for s in held if s not in sold_out}
        # a bought pair, or a bought name against a kept holding other than itself, correlated above the threshold
        if not any(partners[b] & (set(bought[i + 1:]) | (kept - {b})) for i, b in enumerate(bought)):
            out.append(seq)
    return out
