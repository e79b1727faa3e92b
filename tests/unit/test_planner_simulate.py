"""Simulation arithmetic: cash after each step, costs, sells funding buys, limits, trading state."""
from __future__ import annotations

from decimal import Decimal

import pytest

from engine.planner.simulate import Costs, simulate
from engine.trading.risk_limits import RiskLimits
from tests.unit.test_planner_patterns import act

COSTS = Costs(fixed=1.0, proportional=0.001)
PRICES = {"A": 100.0, "B": 50.0}


def test_a_buy_is_funded_only_after_its_sell_and_costs_are_counted() -> None:
    sell = act("A", "sell", 1, "x", qty=10, price=100.0)
    buy = act("B", "buy", 1, "x", qty=30, price=50.0)
    r = simulate((sell, buy), cash=500.0, positions={"A": 10}, prices=PRICES, equity=1500.0,
                 limits=RiskLimits(), costs=COSTS)
    # sell 10 x 100 = 1000, cost 1 + 1 = 2 -> cash 1498; buy 30 x 50 = 1500 + 2.5 > 1498: cut to
    # floor((1498 - 1) / (50 x 1.001)) = 29 -> 1450 + 1 + 1.45 = 1452.45 -> cash 45.55
    assert [(s.symbol, s.qty) for s in r.steps] == [("A", 10), ("B", 29)]
    assert r.steps[0].cash_after == pytest.approx(1498.0)
    assert r.steps[1].cash_after == pytest.approx(45.55) and "cash" in r.steps[1].note
    assert r.costs == pytest.approx(2.0 + 2.45) and r.positions == {"B": 29}


def test_buys_before_funding_are_cut_and_cash_never_goes_negative() -> None:
    buy = act("B", "buy", 1, "x", qty=30, price=50.0)
    r = simulate((buy,), cash=100.0, positions={}, prices=PRICES, equity=100.0, limits=RiskLimits(), costs=COSTS)
    assert [s.qty for s in r.steps] == [1] and r.cash == pytest.approx(100 - 50 - 1.05)
    none = simulate((buy,), cash=40.0, positions={}, prices=PRICES, equity=40.0, limits=RiskLimits(), costs=COSTS)
    assert none.steps == [] and none.cash == 40.0 and "buy B" in none.skipped[0]


def test_gateway_limits_cut_orders_like_the_gateway_would() -> None:
    limits = RiskLimits(max_order_notional=Decimal(1000))
    r = simulate((act("B", "buy", 1, "x", qty=100, price=50.0),), cash=1e6, positions={}, prices=PRICES,
                 equity=1e6, limits=limits, costs=COSTS)
    assert r.steps[0].qty == 19  # 1000 / (50 x 1.01 price margin) = 19.8
    assert "max_order_notional" in r.steps[0].note


def test_trading_state_reducing_exits_only_halted_nothing() -> None:
    seq = (act("A", "sell", 1, "x", qty=5, price=100.0), act("B", "buy", 1, "x", qty=5, price=50.0))
    kw = {"cash": 1000.0, "positions": {"A": 10}, "prices": PRICES, "equity": 2000.0, "limits": RiskLimits(),
          "costs": COSTS}
    reducing = simulate(seq, trading_state="REDUCING", **kw)  # type: ignore[arg-type]
    assert [(s.symbol, s.side) for s in reducing.steps] == [("A", "sell")]
    assert "REDUCING allows only exits" in reducing.skipped[0]
    halted = simulate(seq, trading_state="HALTED", **kw)  # type: ignore[arg-type]
    assert halted.steps == [] and len(halted.skipped) == 2


def test_sell_never_exceeds_the_position() -> None:
    r = simulate((act("A", "sell", 1, "x", qty=50, price=100.0),), cash=0.0, positions={"A": 3}, prices=PRICES,
                 equity=300.0, limits=RiskLimits(), costs=COSTS)
    assert r.steps[0].qty == 3 and r.positions == {}


def test_the_shared_position_sizing_caps_buys() -> None:
    r = simulate((act("B", "buy", 1, "x", qty=30, price=50.0),), cash=1e6, positions={}, prices=PRICES, equity=1e6,
                 limits=RiskLimits(), costs=COSTS, size_caps={"B": 12.0})
    assert r.steps[0].qty == 12 and "position sizing" in r.steps[0].note
    none = simulate((act("B", "buy", 1, "x", qty=30, price=50.0),), cash=1e6, positions={}, prices=PRICES,
                    equity=1e6, limits=RiskLimits(), costs=COSTS, size_caps={})
    assert none.steps == []  # no ATR for B yet: the sizing allows nothing
