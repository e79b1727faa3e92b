"""Trend signal (the planner's original rule): weights proportional to the EMA trend signal, capped per name."""
from __future__ import annotations

from engine.planner.actions import ranked, toward_weight
from engine.planner.context import PlanContext
from engine.planner.registry import CALCULATORS
from engine.planner.targets import cap_weights
from engine.planner.types import Action


@CALCULATORS.register("trend")
def trend(ctx: PlanContext) -> list[Action]:
    min_signal = ctx.p("calculators.trend.min_signal")
    signals = {s: q for s, q in ctx.quality.items() if q >= max(min_signal, 1e-9) and s in ctx.prices}
    invested = sum(ctx.targets.values()) or (1.0 - ctx.p("targets.cash_reserve"))
    weights = cap_weights(signals, ctx.p("targets.max_weight"), invested)
    minimum = ctx.p("calculators.weight_based.min_trade_weight")
    out = []
    for symbol in sorted(set(weights) | set(ctx.state.positions)):
        target, signal = weights.get(symbol, 0.0), ctx.quality.get(symbol, 0.0)
        if abs(target - ctx.weights.get(symbol, 0.0)) >= minimum:
            out.append(toward_weight(symbol, target, ctx, abs(signal), "trend",
                                     f"signal {signal:+.2f} -> weight {target:.1%}"))
    return ranked(out)
