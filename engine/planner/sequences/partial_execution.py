"""Partial execution: each pattern's plan at partial fills (the preset's smallest fill, 75%, 100%) of every trade."""
from __future__ import annotations

import math
from dataclasses import replace

from engine.planner.context import PlanContext
from engine.planner.registry import SEQUENCES
from engine.planner.sequence_tools import Patterned, label, ordered, tagged
from engine.planner.types import Sequence


def fills(smallest: float) -> list[float]:
    return sorted(f for f in {round(smallest, 4), 0.75, 1.0} if f >= smallest)


@SEQUENCES.register("partial_execution")
def partial_execution(ctx: PlanContext, patterns: Patterned) -> list[Sequence]:
    depth = int(ctx.p("sequences.max_depth"))
    out = []
    for name, actions in patterns:
        base = ordered(tagged(name, actions)[:depth])
        for fill in fills(ctx.p("sequences.partial_fills")):
            scaled = tuple(replace(a, qty=float(math.floor(a.qty * fill))) for a in base)
            scaled = tuple(a for a in scaled if a.qty >= 1)
            if scaled:
                out.append(Sequence(label("partial", name, scaled, f" {fill:.0%}"), scaled, "partial_execution"))
    return out
