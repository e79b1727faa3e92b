"""Averaging down: add to a held name that dipped below its average price but still has trend quality."""
from __future__ import annotations

from engine.planner.actions import make, ranked, shares
from engine.planner.context import PlanContext
from engine.planner.registry import CALCULATORS
from engine.planner.types import BUY, Action


@CALCULATORS.register("averaging_down")
def averaging_down(ctx: PlanContext) -> list[Action]:
    dip = ctx.p("calculators.averaging_down.dip_threshold")
    min_quality = ctx.p("calculators.averaging_down.min_quality")
    room_weight = ctx.p("targets.max_weight")
    out = []
    for symbol, h in ctx.state.positions.items():
        price = ctx.prices.get(symbol, 0.0)
        if h.qty <= 0 or h.avg_price <= 0 or price <= 0:
            continue
        loss = 1.0 - price / h.avg_price
        quality = ctx.quality.get(symbol, 0.0)
        if loss >= dip and quality >= min_quality:
            room = (room_weight - ctx.weights.get(symbol, 0.0)) * ctx.equity
            qty = min(float(int(h.qty * 0.5)), shares(room, price))  # add up to half the position, within the cap
            out.append(make(symbol, BUY, qty, ctx, loss / (2 * dip), "averaging_down",
                            f"down {loss:.0%} from avg {h.avg_price:,.2f} (dip >= {dip:.0%}), quality {quality:+.2f}"))
    return ranked(out)
