"""Audit 24, finding 2: each slider moves the plan the way its label says, on fixed seeded portfolios.

Across positions 0, 0.25, 0.5, 0.75, 1 (the other sliders as the preset ships them): more risk appetite never ends
less invested, more position spread never ends with fewer names (default and conservative; aggressive still has
small steps the other way on some portfolios, from its turnover budget and its at_least anchor's plan), a shorter
hold duration ("trade freely") never trades less; and no position ends all in cash while the targets ask for
exposure (all three presets). Exposure, names and turnover are
recomputed here from the planned trades and the last closes. Plus the scoring, diversity filter and budget fit rules
behind them, on hand-made inputs."""
from __future__ import annotations

import pandas as pd
import pytest

from engine.planner.filters.diversity import diversity
from engine.planner.planner import build_planner
from engine.planner.preset import compose_preset, load_preset
from engine.planner.scoring import score
from engine.planner.sequences.partial_execution import fit_to_budget
from engine.planner.simulate import SimResult
from engine.planner.types import BUY, SELL, Action, PlanResult, PortfolioState, Sequence
from tests.unit.planner_helpers import ctx, holding
from tests.unit.test_planner_tuned_anchor import end_state, page_like, turnover

POSITIONS = (0.0, 0.25, 0.5, 0.75, 1.0)
PORTFOLIOS = [(3, 3), (3, 5), (1, 3), (2, 4), (11, 2)]  # (seed, held): the audit's probe portfolio first


def sweep(name: str, slider: str, state: PortfolioState) -> list[PlanResult]:
    base = load_preset(name)
    return [build_planner(compose_preset(base, {slider: p}, {})).plan(state) for p in POSITIONS]


def exposure(plan: PlanResult, state: PortfolioState) -> float:
    return sum(end_state(plan, state)[1].values())


def names(plan: PlanResult, state: PortfolioState) -> int:
    return len(end_state(plan, state)[1])


@pytest.mark.parametrize("name", ["default", "conservative"])
@pytest.mark.parametrize("seed, held", PORTFOLIOS)
def test_more_risk_appetite_never_ends_less_invested(name: str, seed: int, held: int) -> None:
    state = page_like(seed, held)
    invested = [exposure(p, state) for p in sweep(name, "risk_appetite", state)]
    assert all(a <= b + 0.002 for a, b in zip(invested, invested[1:], strict=False)), invested
    assert min(invested) > sum(h.qty * h.avg_price for h in state.positions.values()) / 1_000_000  # buys, never sells out


@pytest.mark.parametrize("name", ["default", "conservative"])
@pytest.mark.parametrize("seed, held", PORTFOLIOS)
def test_more_position_spread_never_ends_with_fewer_names(name: str, seed: int, held: int) -> None:
    state = page_like(seed, held)
    count = [names(p, state) for p in sweep(name, "position_spread", state)]
    assert all(a <= b for a, b in zip(count, count[1:], strict=False)), count


@pytest.mark.parametrize("name", ["default", "conservative", "aggressive"])
@pytest.mark.parametrize("seed, held", PORTFOLIOS)
def test_a_shorter_hold_never_trades_less(name: str, seed: int, held: int) -> None:
    state = page_like(seed, held)
    traded = [turnover(p) for p in sweep(name, "hold_duration", state)]
    assert all(a >= b - 1.0 for a, b in zip(traded, traded[1:], strict=False)), traded


@pytest.mark.parametrize("name", ["default", "conservative", "aggressive"])
@pytest.mark.parametrize("slider", ["risk_appetite", "position_spread", "hold_duration"])
def test_no_slider_position_sells_every_holding_while_the_targets_ask_for_exposure(name: str, slider: str) -> None:
    """The audited cases: position spread 0 and risk appetite 0.25 sold all three holdings and bought nothing."""
    state = page_like(3, 3)
    for position, plan in zip(POSITIONS, sweep(name, slider, state), strict=True):
        assert exposure(plan, state) > 0.06, (slider, position, [(s.side, s.symbol) for s in plan.steps])
        assert any(s.side == BUY for s in plan.steps), (slider, position)


def test_cash_below_the_targets_share_is_not_scored_as_riskless() -> None:
    """Targets: 50% in A. All cash vs 50% in A, with the risk weight at its cautious end (3.0): cash had no risk and
    won; now the shortfall is scored as the targets' mix, and the end state at the targets wins (target distance)."""
    returns = pd.DataFrame({"A": [0.05, -0.06, 0.055, -0.05, 0.03, -0.04] * 5})
    c = ctx({"A": 10.0}, cash=1000.0, targets={"A": 0.5}, returns=returns,
            params={"scoring.risk_weight": 3.0, "scoring.return_weight": 0.5, "scoring.horizon_days": 5})
    cash_only = score(SimResult([], 1000.0, {}, 0.0), c)
    at_target = score(SimResult([], 500.0, {"A": 50}, 1.0), c)
    assert at_target["total"] > cash_only["total"]
    assert cash_only["shortfall"] == pytest.approx(50.0) and "shortfall" not in at_target
    assert cash_only["risk"] == 0.0 and cash_only["scored_risk"] == pytest.approx(at_target["risk"])


def test_exposure_above_the_targets_share_earns_no_diversification() -> None:
    """Targets: 40% spread over A and B. 40% and 80% invested in the same 50/50 mix: the same diversification
    (1 - HHI = 0.5, times the share up to 40%), and the 80% pays an exposure gap of half of 40 points."""
    c = ctx({"A": 10.0, "B": 10.0}, cash=1000.0, targets={"A": 0.2, "B": 0.2})
    low = score(SimResult([], 600.0, {"A": 20, "B": 20}, 0.0), c)
    high = score(SimResult([], 200.0, {"A": 40, "B": 40}, 0.0), c)
    assert low["diversification"] == pytest.approx(high["diversification"]) == pytest.approx(20.0)
    assert low["exposure_gap"] == pytest.approx(0.0) and high["exposure_gap"] == pytest.approx(20.0)


def test_diversity_keeps_the_plan_that_ends_with_more_names() -> None:
    """With diversity weight 0.8 a sequence overlapping a higher-priority one by Jaccard > 0.2 is dropped. "sell X,
    sell Y, buy C, buy D" ranks first (more action score); "buy C, buy D" overlaps it by 2/4 but ends with 4 names
    against 2, so it is kept; "sell X, buy C, buy D" (3 names, overlap 3/4) is kept; "sell X, sell Y, buy C" is not."""
    c = ctx({s: 10.0 for s in "XYCD"}, positions=[holding("X", 5, 10.0), holding("Y", 5, 10.0)], cash=100.0,
            params={"filters.diversity.weight": 0.8})

    def act(symbol: str, side: str) -> Action:
        return Action(symbol, side, 5.0, 10.0, 0.5, "test", "test")

    full = Sequence("full", (act("X", SELL), act("Y", SELL), act("C", BUY), act("D", BUY)), "g")
    buys = Sequence("buys", (act("C", BUY), act("D", BUY)), "g")
    one_sell = Sequence("one sell", (act("X", SELL), act("C", BUY), act("D", BUY)), "g")
    fewer = Sequence("fewer", (act("X", SELL), act("Y", SELL), act("C", BUY)), "g")
    kept = [s.label for s in diversity(c, [buys, fewer, one_sell, full])]
    assert kept == ["full", "one sell", "buys"]


def test_a_plan_over_the_turnover_budget_is_fitted_by_scaling_its_buys() -> None:
    """Sells 100, buys 300 + 600 against a budget of 550: the buys are scaled by (550 - 100) / 900 = 0.5 (whole
    shares, floored): 15 and 30 shares at 10."""
    actions = (Action("X", SELL, 10.0, 10.0, 0.5, "t", "t"), Action("A", BUY, 30.0, 10.0, 0.5, "t", "t"),
               Action("B", BUY, 60.0, 10.0, 0.5, "t", "t"))
    fitted = fit_to_budget(actions, 550.0)
    assert [(a.symbol, a.qty) for a in fitted] == [("X", 10.0), ("A", 15.0), ("B", 30.0)]
    assert fit_to_budget(actions, 1000.0) == () and fit_to_budget(actions, 100.0) == ()
