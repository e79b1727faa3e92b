"""Partial execution: each pattern's plan at partial fills (the preset's smallest fill, 75%, 100%) of every trade."""
from __future__ import annotations

import math

from engine.planner.context import PlanContext
from engine.planner.registry import SEQUENCES
from engine.planner.sequence_tools import Patterned, label, ordered, tagged
from engine.planner.types import Sequence, copy_with


def fills(smallest: float) -> list[float]:
    return sorted(f for f in {round(smallest, 4), 0.75, 1.0} if f >= smallest)


@SEQUENCES.register("partial_execution")
def partial_execution(ctx: PlanContext, patterns: Patterned) -> list[Sequence]:
    depth = int(ctx.p("sequences.max_depth"))
    out = []
    for name, actions in patterns:
        base = ordered(tagged(name, actions[:depth]))  # only the kept actions are tagged (copied)
        for fill in fills(ctx.p("sequences.partial_fills")):
            qtys = [float(math.floor(a.qty * fill)) for a in base]  # the scaled actions, less those under one share
            scaled = tuple(copy_with(a, qty=q) for a, q in zip(base, qtys, strict=True) if q >= 1)
            if scaled:
                out.append(Sequence(label("partial", name, scaled, f" {fill:.0%}"), scaled, "partial_execution"))
    return out
