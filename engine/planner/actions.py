"""Helpers the calculators share: whole-share actions toward a weight, with a readable reason."""
from __future__ import annotations

import math

from engine.planner.context import PlanContext
from engine.planner.types import BUY, SELL, Action


def shares(value: float, price: float) -> float:
    """Whole shares worth at most `value` at `price`."""
    return float(math.floor(value / price + 1e-9)) if price > 0 and value > 0 else 0.0


def make(symbol: str, side: str, qty: float, ctx: PlanContext, score: float, calculator: str, reason: str) -> Action | None:
    if qty < 1 or not ctx.tradable(symbol):
        return None
    if side == SELL:
        qty = min(qty, ctx.held(symbol))
        if qty < 1:
            return None
    return Action(symbol, side, qty, ctx.prices[symbol], max(0.0, min(1.0, score)), calculator, reason)


def toward_weight(symbol: str, target: float, ctx: PlanContext, score: float, calculator: str, reason: str) -> Action | None:
    """Buy or sell the shares that move `symbol` from its current weight to `target`."""
    price = ctx.prices.get(symbol, 0.0)
    delta = (target - ctx.weights.get(symbol, 0.0)) * ctx.equity
    side = BUY if delta > 0 else SELL
    return make(symbol, side, shares(abs(delta), price), ctx, score, calculator, reason)


def ranked(actions: list[Action | None]) -> list[Action]:
    return sorted((a for a in actions if a is not None), key=lambda a: (-a.score, a.symbol))
