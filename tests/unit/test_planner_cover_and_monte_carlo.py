"""Audit 5 fixes without a store: a buy covering a short is an exit in the simulation and in Send's gate (REDUCING, an
uncertain regime's hold), and with Monte Carlo on the plan is one of the candidates the Monte Carlo scored."""
from __future__ import annotations

import pytest

from engine.planner import synthetic
from engine.planner.context import build_context
from engine.planner.execute import _cover_cut, _gate
from engine.planner.planner import Planner, build_planner
from engine.planner.preset import compose_preset, load_preset
from engine.planner.simulate import Costs, simulate
from engine.planner.turnover_anchor import bounds
from engine.planner.types import BUY, SELL, PlanStep
from engine.trading.risk_limits import RiskLimits
from tests.unit.test_planner_patterns import act

COSTS = Costs(fixed=1.0, proportional=0.001)
HOLD = "the regime is uncertain (CONSERVATIVE handling): no new exposure"


@pytest.mark.parametrize(("state", "hold"), [("REDUCING", None), ("ACTIVE", HOLD)])
def test_a_buy_covering_a_short_is_planned_when_only_exits_are(state: str, hold: str | None) -> None:
    cover = act("A", BUY, 1, "x", qty=150, price=10.0)  # against a 100-share short: the cover is 100
    add = act("B", BUY, 1, "x", qty=20, price=10.0)  # against a long: adds exposure
    r = simulate((cover, add), cash=10_000.0, positions={"A": -100.0, "B": 5.0}, prices={"A": 10.0, "B": 10.0},
                 equity=10_000.0, limits=RiskLimits(), costs=COSTS, trading_state=state, regime_hold=hold,
                 size_caps={"A": 0.0, "B": 0.0})  # a sizing cap of 0 (a regime without its row) sizes no cover
    # buy 100 x 10 = 1000 + cost 1 + 1 = 1002 -> cash 8998; the short is closed, the long's buy is skipped
    assert [(s.symbol, s.side, s.qty) for s in r.steps] == [("A", BUY, 100.0)]
    assert "closes the short" in r.steps[0].note and r.steps[0].cash_after == pytest.approx(8998.0)
    assert r.positions == {"B": 5.0} and len(r.skipped) == 1 and r.skipped[0].startswith("buy B: ")


def test_send_gate_lets_a_cover_through_and_cuts_a_larger_buy_to_it() -> None:
    buy = PlanStep("S01", BUY, 15, 100.0, 1500.0, "c", "p", "r", 0.0, 0.0, "")
    for state, hold in (("REDUCING", None), ("ACTIVE", HOLD)):
        assert _gate(state, buy, hold, cover=10.0) is None  # a 10-share short to cover: an exit, sent
        assert _gate(state, buy, hold, cover=0.0) is not None  # nothing short: the buy adds exposure, blocked
        qty, why = _cover_cut(state, buy, hold, 10.0)
        assert qty == 10.0 and why.startswith("cut to 10, the cover of the S01 short") and "other 5" in why
        assert _cover_cut(state, PlanStep("S01", BUY, 8, 100.0, 800.0, "c", "p", "r", 0.0, 0.0, ""), hold, 10.0)[0] == 8
    assert _cover_cut("ACTIVE", buy, None, 10.0) == (15, "")  # ACTIVE, no hold: the gateway judges it as before
    assert _gate("HALTED", buy, None, cover=10.0) == "trading is HALTED: nothing is sent"
    assert _gate("REDUCING", PlanStep("S01", SELL, 15, 100.0, 1500.0, "c", "p", "r", 0.0, 0.0, ""), None) is None


# before the fix each plan here was a candidate no Monte Carlo had scored (audit 5, P4: spared its CVaR penalty, it
# overtook the three that were)
@pytest.mark.parametrize(("name", "seed", "cash"), [("default", 1, 0.0), ("conservative", 2, 0.0)])
def test_monte_carlo_plan_is_the_best_of_the_candidates_it_scored(name: str, seed: int, cash: float) -> None:
    preset = compose_preset(load_preset(name), {}, {"scoring.monte_carlo": True})
    planner = build_planner(preset)
    assert isinstance(planner, Planner)
    state = synthetic.portfolio(positions=20, symbols=40, cash=cash, seed=seed)
    plan = planner.plan(state)
    assert "mc_cvar" in plan.score
    ctx = build_context(state, preset.params)
    limits = bounds(planner.anchors, state)
    ranked = planner.evaluate(ctx, planner.sequences(ctx, planner.candidates(ctx)), limits)
    scored = [r for r in ranked if "mc_cvar" in r.parts]
    assert len(scored) == int(preset.params["scoring.mc_top"])
    assert all(r.seq.relaxed is None and limits.admits(r.sim.steps) for r in scored)
    assert plan.score["total"] == pytest.approx(max(r.parts["total"] for r in scored), abs=1e-6)
    higher = [r for r in ranked if r.seq.relaxed is None and "mc_cvar" not in r.parts
              and r.parts["total"] > plan.score["total"] + 1e-6]  # not comparable: the notes say so
    assert any("without the Monte Carlo" in n for n in plan.notes) == bool(higher)
    assert planner.plan(state).steps == plan.steps  # seeded: the same plan again
