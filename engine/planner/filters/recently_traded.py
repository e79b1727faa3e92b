"""Recently traded: no round trips: do not buy back what was sold, or sell what was bought, within `days`."""
from __future__ import annotations

from engine.planner.context import PlanContext
from engine.planner.filter_tools import keep_actions
from engine.planner.registry import FILTERS
from engine.planner.types import Action, Sequence


@FILTERS.register("recently_traded")
def recently_traded(ctx: PlanContext, seqs: list[Sequence]) -> list[Sequence]:
    window = ctx.p("filters.recently_traded.days") * 86400
    now = ctx.state.now
    # the side each symbol traded last within the window: the only side it may trade (judged once per symbol)
    recent = {s: last.side for s, last in ctx.state.last_trades.items()
              if not (now - last.ts).total_seconds() >= window}
    if not recent:
        return list(seqs)

    def keep(a: Action) -> bool:
        side = recent.get(a.symbol)
        return side is None or side == a.side

    return keep_actions(seqs, keep)
