"""Diversity: keep a varied set of sequences: one per distinct set of trades, and none whose trades
overlap an already kept (higher-priority) one by more than 1 - weight (Jaccard similarity)."""
from __future__ import annotations

from operator import attrgetter

from engine.planner.context import PlanContext
from engine.planner.registry import FILTERS
from engine.planner.types import Sequence

_TRADE = attrgetter("symbol", "side")
_SIGNED = attrgetter("symbol", "side", "qty")
_SCORE = attrgetter("score")


def signature(seq: Sequence) -> frozenset[tuple[str, str, float]]:
    return frozenset(map(_SIGNED, seq.actions))  # map/attrgetter: no Python frame per action


@FILTERS.register("diversity")
def diversity(ctx: PlanContext, seqs: list[Sequence]) -> list[Sequence]:
    limit = 1.0 - ctx.p("filters.diversity.weight")
    # per (relaxed, generator): the kept signatures (a set: equality is a lookup) and trade sets with their sizes
    groups: dict[tuple[str | None, str], tuple[set[frozenset[tuple[str, str, float]]], list[tuple[frozenset[tuple[str, str]], int]]]] = {}
    kept: list[Sequence] = []
    for seq in sorted(seqs, key=lambda s: -sum(map(_SCORE, s.actions))):
        sig = signature(seq)
        sigs, group = groups.setdefault((seq.relaxed, seq.generator), (set(), []))  # only compared within its generator
        if sig in sigs:
            continue
        trades = frozenset(map(_TRADE, seq.actions))
        size = len(trades)
        # Jaccard: |a & b| / |a | b|, with |a | b| = |a| + |b| - |a & b| (the same integers, so the same float);
        # never 0 / 0: two empty trade sets have equal (empty) signatures, caught above
        for other, other_size in group:  # a loop, not any() over a generator: hundreds of comparisons a plan
            common = len(trades & other)
            if common / (size + other_size - common) > limit:
                break
        else:
            sigs.add(sig)
            group.append((trades, size))
            kept.append(seq)
    return kept
