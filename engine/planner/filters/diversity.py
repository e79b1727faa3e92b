"""Diversity: keep a varied set of sequences: one per distinct set of trades, and none whose trades
overlap an already kept (higher-priority) one by more than 1 - weight (Jaccard similarity).

Variety must not decide how many names the plan ends with: the priority (the sum of the actions' scores) ranks a
longer sequence first, so "sell A, sell B, buy C, buy D" used to drop "buy C, buy D", and a higher position spread
(more weight here) ended with fewer names. A sequence that ends holding more names than every kept one it overlaps
is kept too (it is not compared against later ones, so what was kept before is kept still); the scoring chooses."""
from __future__ import annotations

from operator import attrgetter

from engine.planner.context import PlanContext
from engine.planner.registry import FILTERS
from engine.planner.types import SELL, Sequence

_TRADE = attrgetter("symbol", "side")
_SIGNED = attrgetter("symbol", "side", "qty")
_SCORE = attrgetter("score")


def signature(seq: Sequence) -> frozenset[tuple[str, str, float]]:
    return frozenset(map(_SIGNED, seq.actions))  # map/attrgetter: no Python frame per action


def names_after(seq: Sequence, held: dict[str, float]) -> int:
    """How many names the portfolio holds after the sequence's trades, were they all filled as proposed."""
    qty = dict(held)
    for a in seq.actions:
        qty[a.symbol] = qty.get(a.symbol, 0.0) + (-a.qty if a.side == SELL else a.qty)
    return sum(1 for q in qty.values() if q > 1e-9)


@FILTERS.register("diversity")
def diversity(ctx: PlanContext, seqs: list[Sequence]) -> list[Sequence]:
    limit = 1.0 - ctx.p("filters.diversity.weight")
    held = {s: h.qty for s, h in ctx.state.positions.items()}
    # per (relaxed, generator): the kept signatures (a set: equality is a lookup) and trade sets with their sizes
    groups: dict[tuple[str | None, str],
                 tuple[set[frozenset[tuple[str, str, float]]], list[tuple[frozenset[tuple[str, str]], int, int]]]] = {}
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
        mine = -1  # names_after(seq), worked out only when the sequence overlaps a kept one
        similar = False
        for other, other_size, other_names in group:  # a loop, not any() over a generator: hundreds a plan
            common = len(trades & other)
            if common / (size + other_size - common) > limit:
                mine = names_after(seq, held) if mine < 0 else mine
                if other_names >= mine:
                    break
                similar = True
        else:
            sigs.add(sig)
            kept.append(seq)
            if not similar:  # kept for the names it keeps: outside the group, so what it would block stays
                group.append((trades, size, names_after(seq, held) if mine < 0 else mine))
    return kept
