"""The preset's cash reserve in the simulation: a buy is cut to leave it in cash (the plan level is in
test_planner_audit_cash_reserve_plan.py). The reserve only scaled the target weights, so with positions held above
target a plan spent the cash down to 0%."""
from __future__ import annotations

from engine.planner.simulate import Costs, reserve_floor, simulate
from engine.trading.risk_limits import RiskLimits
from tests.unit.test_planner_patterns import act


def test_a_buy_is_cut_to_leave_the_reserve_in_cash() -> None:
    buy = act("B", "buy", 1, "x", qty=100, price=50.0)
    r = simulate((buy,), cash=20_000.0, positions={}, prices={"B": 50.0}, equity=100_000.0, limits=RiskLimits(),
                 costs=Costs(fixed=1.0, proportional=0.001), keep=15_000.0)
    # by hand: 5,000 above the reserve; 99 shares cost 4,950 + 1 + 4.95 = 4,955.95 <= 5,000, 100 would cost 5,006
    assert [(s.qty, s.cash_after) for s in r.steps] == [(99.0, 15_044.05)]
    assert "keeps the cash reserve 15,000.00" in r.steps[0].note and r.notes == [f"buy B {r.steps[0].note}"]


def test_the_floor_is_the_reserve_or_the_starting_cash_when_lower() -> None:
    assert reserve_floor(0.10, 100_000.0, 50_000.0) == 10_000.0  # 10% of 100,000
    assert reserve_floor(0.10, 100_000.0, 4_000.0) == 4_000.0  # below the reserve: never spend further, never sell


def test_a_buy_covering_a_short_is_not_held_back_by_the_reserve() -> None:
    buy = act("B", "buy", 1, "x", qty=150, price=50.0)
    r = simulate((buy,), cash=20_000.0, positions={"B": -200.0}, prices={"B": 50.0}, equity=100_000.0,
                 limits=RiskLimits(), costs=Costs(fixed=1.0, proportional=0.001), keep=15_000.0)
    # by hand: an exit, all 150 shares: 20,000 - 7,500 - (1 + 7.50) = 12,491.50, below the 15,000 reserve
    assert [(s.qty, s.cash_after) for s in r.steps] == [(150.0, 12_491.5)] and r.notes == []
