"""Recently traded: no round trips: do not buy back what was sold, or sell what was bought, within `days`."""
from __future__ import annotations

from engine.planner.context import PlanContext
from engine.planner.filter_tools import keep_actions
from engine.planner.registry import FILTERS
from engine.planner.types import Action, Sequence


@FILTERS.register("recently_traded")
def recently_traded(ctx: PlanContext, seqs: list[Sequence]) -> list[Sequence]:
    window = ctx.p("filters.recently_traded.days") * 86400

    def keep(a: Action) -> bool:
        last = ctx.state.last_trades.get(a.symbol)
        return last is None or last.side == a.side or (ctx.state.now - last.ts).total_seconds() >= window

    return keep_actions(seqs, keep)
