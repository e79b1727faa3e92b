"""Helpers the pattern generators share: pick the best buys/sells from the calculators' candidates."""
from __future__ import annotations

from collections.abc import Iterable

from engine.planner.context import Candidates, PlanContext
from engine.planner.types import BUY, SELL, Action

SELL_SOURCES = ("profit_taking", "rebalance_sells", "weight_based", "trend")
BUY_SOURCES = ("opportunity_buys", "rebalance_buys", "averaging_down", "weight_based", "trend")


def per_category(ctx: PlanContext) -> int:
    return int(ctx.p("sequences.candidates_per_category"))


def top(cands: Candidates, calculator: str, ctx: PlanContext, side: str | None = None) -> list[Action]:
    """The calculator's best `candidates_per_category` actions (on one side if given)."""
    return [a for a in cands.get(calculator, []) if side is None or a.side == side][: per_category(ctx)]


def unique(actions: Iterable[Action]) -> list[Action]:
    """First action per symbol only: a sequence never trades a symbol twice."""
    seen: set[str] = set()
    out = []
    for a in actions:
        if a.symbol not in seen:
            seen.add(a.symbol)
            out.append(a)
    return out


def best(cands: Candidates, ctx: PlanContext, side: str, sources: tuple[str, ...] | None = None) -> list[Action]:
    """The best actions on one side across calculators, one per symbol, highest score first."""
    sources = sources or (SELL_SOURCES if side == SELL else BUY_SOURCES)
    pool = [a for c in sources for a in top(cands, c, ctx, side)]
    return unique(sorted(pool, key=lambda a: (-a.score, a.symbol)))


def sells(cands: Candidates, ctx: PlanContext) -> list[Action]:
    return best(cands, ctx, SELL)


def buys(cands: Candidates, ctx: PlanContext) -> list[Action]:
    return best(cands, ctx, BUY)


def nonempty(*lists: list[Action]) -> list[list[Action]]:
    return [unique(x) for x in lists if x]
