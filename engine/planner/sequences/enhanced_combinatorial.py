"""Enhanced combinatorial: a beam search over all patterns' actions, priority-weighted (score) and
diversity-aware (a calculator or pattern already in the sequence counts less each time it repeats)."""
from __future__ import annotations

from operator import attrgetter

from engine.planner.context import PlanContext
from engine.planner.registry import SEQUENCES
from engine.planner.sequence_tools import Patterned, label, ordered, tagged
from engine.planner.types import Action, Sequence

REPEAT_DISCOUNT = 0.7
_TRADE = attrgetter("symbol", "side")


def _priority(actions: tuple[Action, ...]) -> float:
    """The beam's ranking of a sequence (the search below grows it incrementally, action by action)."""
    seen: dict[str, int] = {}
    total = 0.0
    for a in actions:
        key = a.calculator
        total += a.score * REPEAT_DISCOUNT ** seen.get(key, 0)
        seen[key] = seen.get(key, 0) + 1
    return total


@SEQUENCES.register("enhanced_combinatorial")
def enhanced_combinatorial(ctx: PlanContext, patterns: Patterned) -> list[Sequence]:
    depth, beam = int(ctx.p("sequences.max_depth")), int(ctx.p("sequences.beam_width"))
    pool: dict[tuple[str, str], Action] = {}
    for name, actions in patterns:
        for a in actions:  # tagged (copied) only when it takes the pool's place: tagging keeps symbol, side, score
            held = pool.get((a.symbol, a.side))
            if held is None or a.score > held.score:
                pool[(a.symbol, a.side)] = tagged(name, (a,))[0]
    candidates = sorted(pool.values(), key=lambda a: (-a.score, a.symbol))[: beam * 2]
    # each beam entry carries its _priority, grown one action at a time (same sums in the same order)
    frontier: list[tuple[float, tuple[Action, ...]]] = [(0.0, ())]
    found: dict[frozenset[tuple[str, str]], tuple[Action, ...]] = {}
    for _ in range(depth):
        grown: list[tuple[float, tuple[Action, ...]]] = []
        for prio, seq in frontier:
            symbols = {a.symbol for a in seq}
            repeats: dict[str, int] = {}
            for a in seq:
                repeats[a.calculator] = repeats.get(a.calculator, 0) + 1
            grown.extend((prio + a.score * REPEAT_DISCOUNT ** repeats.get(a.calculator, 0), seq + (a,))
                         for a in candidates if a.symbol not in symbols)
        grown.sort(key=lambda g: -g[0])
        frontier = []
        for prio, seq in grown:
            key = frozenset(map(_TRADE, seq))  # map/attrgetter: no Python frame per action
            if key not in found:
                found[key] = seq
                frontier.append((prio, seq))
            if len(frontier) >= beam:
                break
        if not frontier:
            break
    out = []
    for seq in found.values():
        acts = ordered(seq)
        out.append(Sequence(label("enhanced", "mixed" if len({a.pattern for a in acts}) > 1 else acts[0].pattern, acts),
                            acts, "enhanced_combinatorial"))
    return out
