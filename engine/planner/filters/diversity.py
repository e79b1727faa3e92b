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
    # per (relaxed, generator): the kept signatures (a set: equality is a lookup) and trade sets with their sizes
    groups: dict[tuple[str | None, str], tuple[set[frozenset[tuple[str, str, float]]], list[tuple[frozenset[tuple[str, str]], int]]]] = {}
    kept: list[Sequence] = []
    for seq in sorted(seqs, key=lambda s: -sum(a.score for a in s.actions)):
        sig = signature(seq)
        sigs, group = groups.setdefault((seq.relaxed, seq.generator), (set(), []))  # only compared within its generator
        if sig in sigs:
            continue
        trades = frozenset((a.symbol, a.side) for a in seq.actions)
        size = len(trades)
        # Jaccard: |a & b| / |a | b|, with |a | b| = |a| + |b| - |a & b| (the same integers, so the same float);
        # never 0 / 0: two empty trade sets have equal (empty) signatures, caught above
        if not any((common := len(trades & other)) / (size + other_size - common) > limit for other, other_size in group):
            sigs.add(sig)
            group.append((trades, size))
            kept.append(seq)
    return kept
