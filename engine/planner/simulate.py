"""Step-by-step simulation of one sequence: cash, positions, costs (fixed + proportional), gateway limits
and the trading state. A buy cash cannot pay is cut to what it can pay (or skipped); cash never goes
negative; REDUCING allows only exits and HALTED (or any other non-ACTIVE state) nothing; an uncertain regime
under CONSERVATIVE handling (`regime_hold`) allows no buy either: no new exposure, only reductions or holding. A buy
against a short is an exit (it shrinks the position, as the gateway's REDUCING rule sees it): REDUCING and the hold
let it through, cut to the cover (flip_cut), and the position sizing does not cut it.
A buy is also cut to leave `keep` (the preset's cash reserve) in cash: the reserve only scaled the target weights, so
positions held above target left the plan free to spend it. Sells are never forced to restore it, and a buy that
covers a short (an exit) is not held back by it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal

from engine.planner.types import BUY, SELL, Action, PlanStep
from engine.trading.brokers.base import OrderSide, OrderType
from engine.trading.risk import OrderFacts, check_no_flip
from engine.trading.risk_limits import RiskLimits
from engine.trading.sizing import cap_to_limits
from engine.trading.state import TradingState

_NO_TIME = datetime(1970, 1, 1, tzinfo=UTC)  # check_no_flip reads no time; OrderFacts needs one


@dataclass(frozen=True)
class Costs:
    fixed: float
    proportional: float

    def of(self, notional: float) -> float:
        return self.fixed + self.proportional * notional if notional > 0 else 0.0


@dataclass
class SimResult:
    steps: list[PlanStep]
    cash: float
    positions: dict[str, float]
    costs: float
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the plan's notes should say (a buy cut by the reserve)


def relax(limits: RiskLimits, relaxed: str | None, factor: float) -> RiskLimits:
    """The limits with the one named in `relaxed` ("max_order_notional x1.5") multiplied by factor."""
    if not relaxed:
        return limits
    name = relaxed.split(" ")[0]
    return replace(limits, **{name: getattr(limits, name) * type(getattr(limits, name))(str(factor))})


def affordable(cash: float, price: float, costs: Costs) -> float:
    """Whole shares cash pays for, costs included."""
    if price <= 0 or cash <= costs.fixed:
        return 0.0
    return float(math.floor((cash - costs.fixed) / (price * (1 + costs.proportional)) + 1e-9))


def gross_of(positions: dict[str, float], prices: dict[str, float]) -> float:
    """The positions' gross notional at `prices` (a symbol without a price counts 0)."""
    return sum(abs(q) * prices.get(s, 0.0) for s, q in positions.items())


def flip_cut(side: str, qty: float, position: float) -> tuple[float, str]:
    """(qty, note): the gateway's own no-flip rule (risk.check_no_flip) asked about this order; one it would refuse
    as position_flip is cut to close the position first (buy 302 holding -10: buy 10), as the gateway advises."""
    if position == 0 or (position > 0) == (side == BUY):
        return qty, ""  # same side or flat: the rule has nothing to say (skip building its facts in the hot loop)
    held = Decimal(str(position))
    facts = OrderFacts(state=TradingState.ACTIVE, symbol="", side=OrderSide(side), qty=Decimal(str(qty)),
                       order_type=OrderType.MARKET, limit_price=None, origin="planner", actor="planner",
                       now=_NO_TIME, last_price=None, last_data_at=None, position_qty=held, projected_qty=held,
                       equity=None, start_of_day_equity=None, peak_equity=None, gross_exposure=Decimal(0))
    if check_no_flip(facts) is None:
        return qty, ""
    cover = float(math.floor(abs(position) + 1e-9))
    return cover, f"cut to {cover:,.0f}: closes the {'short' if position < 0 else 'long'} first (one order never flips)"


def simulate(actions: tuple[Action, ...], cash: float, positions: dict[str, float], prices: dict[str, float],
             equity: float, limits: RiskLimits, costs: Costs, trading_state: str = "ACTIVE",
             max_turnover: float = float("inf"), size_caps: dict[str, float] | None = None,
             regime_hold: str | None = None, gross: float | None = None, keep: float = 0.0) -> SimResult:
    """`max_turnover` (currency) caps the plan's total traded notional: a later step is cut to what is left.
    `gross`: gross_of(positions, prices), when the caller simulates many sequences from the same positions.
    `keep` (currency): the cash no buy may spend (reserve_floor: the reserve, or the starting cash if lower)."""
    held = dict(positions)
    if gross is None:
        gross = gross_of(held, prices)
    steps: list[PlanStep] = []
    skipped: list[str] = []
    notes: list[str] = []
    paid = traded = 0.0
    for a in actions:
        if trading_state not in ("ACTIVE", "REDUCING"):
            skipped.append(f"{a.side} {a.symbol}: trading is {trading_state}, no orders")
            continue
        position = held.get(a.symbol, 0.0)
        covers = a.side == BUY and position < 0  # a buy against a short is an exit (flip_cut keeps it to the cover)
        if a.side == BUY and not covers and (trading_state == "REDUCING" or regime_hold):
            why = "REDUCING allows only exits" if trading_state == "REDUCING" else "the regime is uncertain, no new exposure"
            skipped.append(f"buy {a.symbol}: {why}")
            continue
        qty = min(a.qty, position) if a.side == SELL else a.qty
        qty, cut = cap_to_limits(a.side, qty, a.price, position, gross, equity, limits)
        note = f"cut to {qty:,.0f} by {cut}" if cut and qty < a.qty else ""
        # the sizing sizes new exposure: a cover is not sized (its cap reads no short)
        if a.side == BUY and not covers and size_caps is not None and size_caps.get(a.symbol, 0.0) < qty:
            qty, note = float(size_caps.get(a.symbol, 0.0)), "cut by the position sizing (ATR, Kelly, regime bias)"
        if (traded + qty * a.price) > max_turnover:
            qty, note = float(math.floor(max(0.0, max_turnover - traded) / a.price)), "cut by the plan's max turnover"
        if a.side == BUY:
            can_pay = affordable(cash, a.price, costs)
            if can_pay < qty:
                qty, note = can_pay, f"cut to {can_pay:,.0f}: cash {cash:,.2f}"
            # a buy covering a short is an exit: it reduces exposure, like a sell, and the reserve does not hold it
            spendable = affordable(cash - keep, a.price, costs) if keep > 0 and position >= 0 else qty
            if spendable < qty:
                qty, note = spendable, f"cut to {spendable:,.0f}: keeps the cash reserve {keep:,.2f}"
                if spendable >= 1:  # a buy cut to nothing is among the skipped, which the notes list already
                    notes.append(f"buy {a.symbol} {note}")
        qty, flip_note = flip_cut(a.side, qty, position)
        note = flip_note or note
        if qty < 1:
            skipped.append(f"{a.side} {a.symbol}: {note or 'nothing left to trade'}")
            continue
        notional = qty * a.price
        cost = costs.of(notional)
        if a.side == SELL and (notional <= cost or cash + notional - cost < 0):
            skipped.append(f"sell {a.symbol}: {notional:,.2f} does not cover its cost {cost:,.2f}")
            continue
        if a.side == SELL:
            cash += notional - cost
            held[a.symbol] = position - qty
        else:
            cash -= notional + cost
            held[a.symbol] = position + qty
        gross += (abs(held[a.symbol]) - abs(position)) * a.price
        paid += cost
        traded += notional
        cash = max(cash, 0.0) if cash > -1e-6 else cash  # float dust only; a real deficit would be a bug
        steps.append(PlanStep(a.symbol, a.side, qty, a.price, notional, a.calculator, a.pattern, a.reason,
                              round(cash, 2), round(cost, 4), note))
    return SimResult(steps, cash, {s: q for s, q in held.items() if abs(q) > 1e-9}, paid, skipped, notes)


def reserve_floor(reserve: float, equity: float, cash: float) -> float:
    """The cash a plan's buys must leave: `reserve` (a fraction) of equity, or the starting cash when that is
    already lower (the plan never spends further into the reserve, and never sells to restore it)."""
    return max(0.0, min(reserve * equity, cash))
