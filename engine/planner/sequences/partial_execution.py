"""Partial execution: each pattern's plan at partial fills (the preset's smallest fill, 75%, 100%) of every trade,
and, when the plan trades more than the turnover budget (sequences.max_turnover of equity), its buys scaled to fit.

Without the fitted version the budget cut the plan's last buys (the simulation cuts a step that does not fit), so a
plan of three names became two, and a preset whose targets asked for more ended with fewer names, or less invested,
than one asking for less (a higher risk appetite investing less); scaled, every name of the plan keeps its share."""
from __future__ import annotations

import math

from engine.planner.context import PlanContext
from engine.planner.registry import SEQUENCES
from engine.planner.sequence_tools import Patterned, label, ordered, tagged
from engine.planner.types import SELL, Action, Sequence, copy_with


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
        fitted = fit_to_budget(base, ctx.p("sequences.max_turnover") * ctx.equity)
        if fitted:
            # its own generator: the diversity filter compares trade sets within one, and the partial fills of a
            # pattern share theirs (the first fill kept would drop it)
            out.append(Sequence(label("partial", name, fitted, " fitted to the turnover budget"), fitted,
                                "partial_execution_fitted"))
    return out


def fit_to_budget(actions: tuple[Action, ...], budget: float) -> tuple[Action, ...]:
    """The actions with every buy scaled by one factor so that sells plus buys trade at most `budget` (currency);
    () when they fit already, or the sells alone fill the budget."""
    sells = sum(a.notional for a in actions if a.side == SELL)
    buys = sum(a.notional for a in actions if a.side != SELL)
    if buys <= 0 or sells + buys <= budget or sells >= budget:
        return ()
    factor = (budget - sells) / buys
    qtys = [a.qty if a.side == SELL else float(math.floor(a.qty * factor)) for a in actions]
    return tuple(copy_with(a, qty=q) for a, q in zip(actions, qtys, strict=True) if q >= 1)
