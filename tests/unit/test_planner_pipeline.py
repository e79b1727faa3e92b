"""The whole pipeline on edge cases: empty portfolio, single security, no cash, all ineligible, a windfall
inside its minimum hold, trading states, what-if sequences and the seeded Monte Carlo."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pandas as pd

from engine.planner.planner import build_planner
from engine.planner.preset import compose_preset, load_preset
from engine.planner.synthetic import NOW, history, portfolio
from engine.planner.types import Holding, PortfolioState
from engine.trading.risk_limits import RiskLimits

DEFAULT = load_preset("default")


def plan(state: PortfolioState, preset=DEFAULT):  # type: ignore[no-untyped-def]
    return build_planner(preset).plan(state)


def test_empty_portfolio_with_cash_buys_and_never_overspends() -> None:
    result = plan(PortfolioState(positions={}, cash=100_000.0, history=history(20), now=NOW))
    assert result.steps and all(s.side == "buy" for s in result.steps)
    assert all(s.cash_after >= 0 for s in result.steps)
    assert sum(s.notional + s.cost for s in result.steps) <= 100_000.0
    assert result.weights_before == {} and result.weights_after


def test_nothing_to_do_is_a_hold() -> None:
    for state in (PortfolioState(positions={}, cash=0.0, history=history(5), now=NOW),
                  PortfolioState(positions={}, cash=1_000.0, history=pd.DataFrame(), now=NOW)):
        result = plan(state)
        assert result.steps == [] and result.label == "hold: no trades" and result.sequences_evaluated >= 1


def test_a_single_security() -> None:
    hist = history(1)
    result = plan(PortfolioState(positions={}, cash=10_000.0, history=hist, now=NOW))
    assert {s.symbol for s in result.steps} <= {"S00"} and all(s.cash_after >= 0 for s in result.steps)


def test_no_cash_buys_only_what_sells_fund() -> None:
    state = portfolio(seed=2, cash=0.0)
    result = plan(state)
    cash = 0.0
    for step in result.steps:
        cash += (step.notional - step.cost) if step.side == "sell" else -(step.notional + step.cost)
        assert cash >= -1e-6 and abs(step.cash_after - cash) < 0.02
    assert any(s.side == "sell" for s in result.steps)


def test_all_positions_ineligible_and_no_cash_means_no_trades() -> None:
    state = portfolio(seed=1, cash=0.0)
    fresh = {s: replace(h, opened_at=NOW - timedelta(days=1)) for s, h in state.positions.items()}
    result = plan(replace(state, positions=fresh))  # default minimum hold > 1 day
    assert result.steps == []


def test_a_windfall_inside_its_minimum_hold_is_not_sold() -> None:
    hist = history(3)
    price = float(hist["S00"].iloc[-1])
    held = {"S00": Holding("S00", 100, price / 3, NOW - timedelta(days=2))}  # +200%, held 2 days
    preset = compose_preset(DEFAULT, {}, {"filters.eligibility.min_hold_days": 5})
    result = plan(PortfolioState(positions=held, cash=0.0, history=hist, now=NOW), preset)
    assert not any(s.symbol == "S00" and s.side == "sell" for s in result.steps)
    later = plan(PortfolioState(positions={"S00": replace(held["S00"], opened_at=NOW - timedelta(days=30))},
                                cash=0.0, history=hist, now=NOW), preset)
    assert any(s.symbol == "S00" and s.side == "sell" for s in later.steps)  # eligible once held long enough


def test_trading_state_reducing_plans_exits_only_and_halted_nothing() -> None:
    state = portfolio(seed=1, cash=50_000.0)
    reducing = plan(replace(state, trading_state="REDUCING"))
    assert all(s.side == "sell" for s in reducing.steps) and "REDUCING" in reducing.notes[0]
    halted = plan(replace(state, trading_state="HALTED"))
    assert halted.steps == [] and "HALTED" in halted.notes[0]


def test_what_if_sequences_are_labelled_and_never_the_plan() -> None:
    tight = RiskLimits(max_order_notional=Decimal(2_000))
    preset = compose_preset(DEFAULT, {}, {"sequences.constraint_relaxation.enabled": True,
                                          "sequences.relax_factor": 3.0})
    result = plan(replace(portfolio(seed=1, cash=50_000.0), limits=tight), preset)
    assert result.relaxed is None and all(s.notional <= 2_000 for s in result.steps)
    relaxed = [r for r in result.runner_ups if r.relaxed]
    assert relaxed and all(r.relaxed in r.label for r in relaxed)


def test_monte_carlo_is_part_of_the_score_and_seeded() -> None:
    preset = compose_preset(DEFAULT, {}, {"scoring.monte_carlo": True, "scoring.mc_paths": 100})
    state = portfolio(seed=3, cash=20_000.0)
    first, second = plan(state, preset), plan(state, preset)
    assert "mc_cvar" in first.score and first.score == second.score
    assert [s.symbol for s in first.steps] == [s.symbol for s in second.steps]


def test_cache_key_changes_only_with_the_plan_inputs() -> None:
    from engine.planner.cache_key import plan_cache_key

    state = portfolio(seed=1)
    key = plan_cache_key(state, DEFAULT)
    assert key == plan_cache_key(portfolio(seed=1), load_preset("default"))
    assert key != plan_cache_key(replace(state, cash=state.cash + 1), DEFAULT)
    assert key != plan_cache_key(state, compose_preset(DEFAULT, {"risk_appetite": 0.9}, {}))
    moved = state.history.copy()
    moved.iloc[-1, 0] *= 1.01
    assert key != plan_cache_key(replace(state, history=moved), DEFAULT)
