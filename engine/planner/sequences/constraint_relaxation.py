"""Constraint relaxation: "what if" one gateway limit were `relax_factor` times looser, for the best patterns.

Each such sequence carries `relaxed` (e.g. "max_order_notional x1.5"): the planner shows it among the
runner-ups, never makes it the plan, and send_plan refuses a relaxed plan.
"""
from __future__ import annotations

from engine.planner.context import PlanContext
from engine.planner.registry import SEQUENCES
from engine.planner.sequence_tools import Patterned, label, ordered, tagged
from engine.planner.types import Sequence

RELAXABLE = ("max_order_notional", "max_position_notional", "max_gross_exposure_pct")


@SEQUENCES.register("constraint_relaxation")
def constraint_relaxation(ctx: PlanContext, patterns: Patterned) -> list[Sequence]:
    depth, factor = int(ctx.p("sequences.max_depth")), ctx.p("sequences.relax_factor")
    ranked = sorted(patterns, key=lambda p: -sum(a.score for a in p[1]))[:2]
    out = []
    for name, actions in ranked:
        seq = ordered(tagged(name, actions)[:depth])
        for limit in RELAXABLE:
            relaxed = f"{limit} x{factor:g}"
            out.append(Sequence(label("relaxed", name, seq, f" [{relaxed}]"), seq, "constraint_relaxation", relaxed))
    return out
