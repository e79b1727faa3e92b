"""Diversity: keep a varied set of sequences: one per distinct set of trades, and none whose trades
overlap an already kept (higher-priority) one by more than 1 - weight (Jaccard similarity)."""
from __future__ import annotations

from engine.planner.context import PlanContext
from engine.planner.registry import FILTERS
from engine.planner.types import Sequence


def signature(seq: Sequence) -> frozenset[tuple[str, str, float]]:
    return frozenset((a.symbol, a.side, a.qty) for a in seq.actions)


@FILTERS.register("diversity")
def diversity(ctx: PlanContext, seqs: list[Sequence]) -> list[Sequence]:
    limit = 1.0 - ctx.p("filters.diversity.weight")
    groups: dict[tuple[str | None, str], list[tuple[frozenset[tuple[str, str, float]], frozenset[tuple[str, str]]]]] = {}
    kept: list[Sequence] = []
    for seq in sorted(seqs, key=lambda s: -sum(a.score for a in s.actions)):
        sig = signature(seq)
        trades = frozenset((a.symbol, a.side) for a in seq.actions)
        group = groups.setdefault((seq.relaxed, seq.generator), [])  # only compared within its generator
        if not any(sig == other_sig or len(trades & other_trades) / len(trades | other_trades) > limit
                   for other_sig, other_trades in group):
            group.append((sig, trades))
            kept.append(seq)
    return kept
