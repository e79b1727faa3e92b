"""Combinatorial: every subset of a pattern's actions up to max_depth, sells before buys, best first per pattern."""
from __future__ import annotations

from itertools import combinations
from operator import attrgetter

from engine.planner.context import PlanContext
from engine.planner.registry import SEQUENCES
from engine.planner.sequence_tools import Patterned, label, ordered, tagged
from engine.planner.types import Sequence

_SCORE = attrgetter("score")


@SEQUENCES.register("combinatorial")
def combinatorial(ctx: PlanContext, patterns: Patterned) -> list[Sequence]:
    depth, beam = int(ctx.p("sequences.max_depth")), int(ctx.p("sequences.beam_width"))
    out = []
    for name, actions in patterns:
        acts = tagged(name, actions[: max(depth, 1) + 2])  # at most C(depth+2, k) subsets per pattern; only these are tagged
        subsets = [c for k in range(min(depth, len(acts)), 0, -1) for c in combinations(acts, k)]
        subsets.sort(key=lambda c: -sum(map(_SCORE, c)))  # map/attrgetter: no Python frame per action
        for subset in subsets[:max(1, beam // 4)]:
            seq = ordered(subset)
            out.append(Sequence(label("combinatorial", name, seq), seq, "combinatorial"))
    return out
