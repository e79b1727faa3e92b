"""Eligibility: no sale before the minimum hold, no trade within the cooldown after the last trade of a
symbol, no sale at a loss deeper than max_loss_to_sell. The minimum hold counts from when the position last went
from zero to what it is now; a position read from the store always has that time (engine/planner/held_since.py: one
the fills cannot date is taken as opened at the account's first sync, never as past the hold). `opened_at` None comes
only from a what-if the trader typed (the CLI's positions CSV without its optional opened_at column): no hold."""
from __future__ import annotations

from engine.planner.context import PlanContext
from engine.planner.filter_tools import keep_actions
from engine.planner.registry import FILTERS
from engine.planner.types import SELL, Action, Sequence


def ineligible(ctx: PlanContext, a: Action) -> str | None:
    """Why `a` may not be traded now, or None."""
    now = ctx.state.now
    last = ctx.state.last_trades.get(a.symbol)
    cooldown = ctx.p("filters.eligibility.cooldown_days")
    if last is not None and (now - last.ts).total_seconds() < cooldown * 86400:
        return f"{a.symbol} traded {last.ts:%Y-%m-%d}, cooldown {cooldown:g} days"
    if a.side != SELL:
        return None
    h = ctx.state.positions.get(a.symbol)
    if h is None:
        return None
    min_hold = ctx.p("filters.eligibility.min_hold_days")
    if h.opened_at is not None and (now - h.opened_at).total_seconds() < min_hold * 86400:
        return f"{a.symbol} held since {h.opened_at:%Y-%m-%d}, minimum hold {min_hold:g} days"
    max_loss = ctx.p("filters.eligibility.max_loss_to_sell")
    if h.avg_price > 0 and a.price / h.avg_price - 1.0 < -max_loss:
        return f"{a.symbol} is {1 - a.price / h.avg_price:.0%} below its average price (limit {max_loss:.0%})"
    return None


@FILTERS.register("eligibility")
def eligibility(ctx: PlanContext, seqs: list[Sequence]) -> list[Sequence]:
    """One verdict per distinct (symbol, side, price): the same few actions recur across hundreds of sequences."""
    verdicts: dict[tuple[str, str, float], bool] = {}

    def ok(a: Action) -> bool:
        key = (a.symbol, a.side, a.price)
        if key not in verdicts:
            verdicts[key] = ineligible(ctx, a) is None
        return verdicts[key]

    return keep_actions(seqs, ok)
