"""Averaging down: add to the quality dips, one at a time and all together."""
from __future__ import annotations

from engine.planner.context import Candidates, PlanContext
from engine.planner.pattern_tools import nonempty, top
from engine.planner.registry import PATTERNS
from engine.planner.types import Action


@PATTERNS.register("averaging_down")
def averaging_down(ctx: PlanContext, cands: Candidates) -> list[list[Action]]:
    dips = top(cands, "averaging_down", ctx)
    return nonempty(*([a] for a in dips)) + (nonempty(dips) if len(dips) > 1 else [])
