"""Profit taking: sell part of a position whose gain over its average price is a windfall."""
from __future__ import annotations

from engine.planner.actions import make, ranked
from engine.planner.context import PlanContext
from engine.planner.registry import CALCULATORS
from engine.planner.types import SELL, Action


@CALCULATORS.register("profit_taking")
def profit_taking(ctx: PlanContext) -> list[Action]:
    threshold = ctx.p("calculators.profit_taking.windfall_threshold")
    fraction = ctx.p("calculators.profit_taking.sell_fraction")
    out = []
    for symbol, h in ctx.state.positions.items():
        price = ctx.prices.get(symbol, 0.0)
        if h.qty <= 0 or h.avg_price <= 0 or price <= 0:
            continue
        gain = price / h.avg_price - 1.0
        if gain >= threshold:
            qty = max(1.0, float(int(h.qty * fraction)))
            out.append(make(symbol, SELL, qty, ctx, gain / (2 * threshold), "profit_taking",
                            f"gain {gain:+.0%} over avg {h.avg_price:,.2f} >= windfall {threshold:.0%}: "
                            f"sell {fraction:.0%}"))
    return ranked(out)
