"""Cash already promised to buys the planner did not plan this cycle: open buy orders (their unfilled rest) and
working sliced buy parents (what they have still to send). The account snapshot's cash still holds it, so a plan
spending that cash overdrew the account (the broker refused the orders) or broke the preset's cash reserve.

Plain data, no store access: the planner reads it (engine/planner/planner.py), portfolio.py fills it in.
"""
from __future__ import annotations

from dataclasses import dataclass

from engine.planner.types import PortfolioState


@dataclass(frozen=True)
class Commitment:
    """One buy still to be paid: `qty` shares at `price` (its limit, else the latest close)."""

    symbol: str
    what: str  # "limit buy", "market buy", "twap parent", ...
    qty: float
    price: float | None  # None: no price known (a market order on a symbol without bars): not counted

    @property
    def amount(self) -> float:
        return self.qty * self.price if self.price is not None else 0.0


@dataclass(frozen=True)
class CommittedState(PortfolioState):
    """A PortfolioState that knows the cash its open buys will spend. `cash` stays the account's cash (the equity,
    the weights and the targets are the whole account's: a filled buy turns that cash into shares of the same value);
    only the simulation's spending is limited to free_cash. `account_cash`: the cash the commitments are out of, so
    a state whose cash was split (a bucket's share) is charged the same share of them."""

    account_cash: float = 0.0
    commitments: tuple[Commitment, ...] = ()


def _total(state: PortfolioState) -> float:
    if not isinstance(state, CommittedState) or not state.commitments:
        return 0.0
    total = sum(c.amount for c in state.commitments)
    if state.account_cash > 0 and state.cash != state.account_cash:
        total *= max(0.0, state.cash) / state.account_cash  # a bucket: its share of the commitments
    return total


def committed_of(state: PortfolioState) -> float:
    """The part of `state.cash` open buys will spend (0 for a plain PortfolioState); never more than the cash."""
    return min(max(0.0, state.cash), _total(state))


def committed_note(state: PortfolioState) -> str | None:
    """What the plan's notes say: how much cash open buys hold and in which orders (None: nothing committed)."""
    if not isinstance(state, CommittedState) or not state.commitments:
        return None
    total = _total(state)
    parts = [f"{c.symbol} {c.what} {c.qty:,.0f} @ {c.price:,.2f} = {c.amount:,.2f}" if c.price is not None
             else f"{c.symbol} {c.what} {c.qty:,.0f}: no price, not counted" for c in state.commitments]
    share = "" if state.cash == state.account_cash else " (this part's share)"
    return (f"{total:,.2f} of cash {state.cash:,.2f} is committed to open buys{share} ({'; '.join(parts)}): "
            f"buys are planned with {state.cash - committed_of(state):,.2f}")
