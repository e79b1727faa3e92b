"""The plan never holds an order the gateway refuses as a position flip, and one bad close in a symbol not held
leaves that symbol out (named in a note) instead of turning every score NaN (audit 6)."""
from __future__ import annotations

import math
from dataclasses import replace
from decimal import Decimal

from engine.planner import synthetic
from engine.planner.api import build_planner, load_preset
from engine.planner.simulate import Costs, simulate
from engine.planner.types import Action, Holding
from engine.trading.brokers.base import OrderSide, OrderType
from engine.trading.risk import OrderFacts, check_no_flip
from engine.trading.risk_limits import RiskLimits
from engine.trading.state import TradingState

BIG = RiskLimits(max_order_qty=Decimal(10**6), max_order_notional=Decimal(10**9),
                 max_position_notional=Decimal(10**9), max_gross_exposure_pct=Decimal(10**4))


def gateway_flip(side: str, qty: float, position: float) -> object:
    """The gateway's own verdict on one order against a position (no open orders)."""
    held = Decimal(str(position))
    return check_no_flip(OrderFacts(
        state=TradingState.ACTIVE, symbol="X", side=OrderSide(side), qty=Decimal(str(qty)), order_type=OrderType.MARKET,
        limit_price=None, origin="planner", actor="t", now=synthetic.NOW, last_price=None, last_data_at=None,
        position_qty=held, projected_qty=held, equity=None, start_of_day_equity=None, peak_equity=None,
        gross_exposure=Decimal(0)))


def test_a_buy_larger_than_the_short_is_cut_to_cover_it() -> None:
    # holding -10 X at 50: "buy 302" would end +292 (position_flip); cut to buy 10, cash 100,000 - 500 = 99,500
    buy = Action("X", "buy", 302.0, 50.0, 1.0, "trend", "test")
    sim = simulate((buy,), 100_000.0, {"X": -10.0}, {"X": 50.0}, 100_000.0, BIG, Costs(0.0, 0.0))
    assert [(s.symbol, s.side, s.qty, s.cash_after) for s in sim.steps] == [("X", "buy", 10.0, 99_500.0)]
    assert "closes the short first" in sim.steps[0].note and sim.positions == {}
    assert gateway_flip("buy", 10.0, -10.0) is None and gateway_flip("buy", 302.0, -10.0) is not None


def test_no_preset_plans_a_flip_of_a_short() -> None:
    for seed in (1, 2, 3):
        flat = synthetic.portfolio(positions=0, symbols=10, cash=500_000.0, seed=seed)
        for name in ("default", "aggressive", "conservative"):
            buys = [s for s in build_planner(load_preset(name)).plan(flat).steps if s.side == "buy"]
            if not buys:
                continue
            symbol = buys[0].symbol
            short = replace(flat, positions={symbol: Holding(symbol, -10.0, flat.prices[symbol], synthetic.NOW)})
            for step in build_planner(load_preset(name)).plan(short).steps:
                held = -10.0 if step.symbol == symbol else 0.0
                assert gateway_flip(step.side, step.qty, held) is None, (seed, name, step)


def test_a_zero_close_in_a_symbol_not_held_is_left_out_and_named() -> None:
    state = synthetic.portfolio(positions=10, symbols=20, cash=100_000.0, seed=3)
    other = [c for c in state.history.columns if c not in state.positions][-1]
    history = state.history.copy()
    history.iloc[-1, history.columns.get_loc(other)] = 0.0
    plan = build_planner(load_preset("default")).plan(replace(state, history=history))
    assert plan.steps and plan.label != "hold", plan.label
    assert all(math.isfinite(v) for v in plan.score.values()), plan.score
    assert other not in {s.symbol for s in plan.steps}
    day = str(history.index[-1])[:10]
    assert f"{other} left out of this plan: its close on {day} is 0 (a price must be positive; bad market data)" \
        in plan.notes, plan.notes
