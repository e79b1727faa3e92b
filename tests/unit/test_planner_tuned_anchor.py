"""Audit 24, finding 1: a tuned preset's turnover anchor is its base's anchor tuned the same way.

Aggressive (never less than Default) and Conservative (never more than Default) keep that order at EQUAL tuning: the
same slider positions and overrides on all three. Cautious sliders shrink every preset's plan, and the plan stays
within its own tuned limits. Turnover, equity and end weights are recomputed here from the planned trades and the
portfolio's last closes, not read from the planner."""
from __future__ import annotations

from datetime import timedelta

import pytest

from engine.planner import synthetic
from engine.planner.planner import build_planner
from engine.planner.preset import compose_preset, load_preset
from engine.planner.types import SELL, Holding, PlanResult, PortfolioState

PRESETS = ("conservative", "default", "aggressive")
CAUTIOUS = {"risk_appetite": 0.0, "hold_duration": 1.0, "entry_style": 1.0, "position_spread": 1.0,
            "profit_taking": 0.0, "regime_sensitivity": 1.0}
BOLD = {"risk_appetite": 1.0, "hold_duration": 0.0, "entry_style": 0.0, "position_spread": 0.0,
        "profit_taking": 1.0, "regime_sensitivity": 0.0}
TUNINGS = {  # name -> (sliders, overrides), the same for all three presets
    "cautious": (CAUTIOUS, {}),
    "bold": (BOLD, {}),
    "middle": (dict.fromkeys(CAUTIOUS, 0.5), {}),
    "mixed": ({"risk_appetite": 0.3, "hold_duration": 0.7, "entry_style": 0.2, "position_spread": 0.9,
               "profit_taking": 0.6, "regime_sensitivity": 0.1}, {}),
    "cautious+override": (CAUTIOUS, {"targets.max_weight": 0.15}),
}


def page_like(seed: int = 3, held: int = 3, symbols: int = 8) -> PortfolioState:
    """The Planner page fixture's portfolio without a store: `held` names of about 20,000 each, bought 100 days
    ago, the rest of 1,000,000 in cash."""
    history = synthetic.history(symbols=symbols, seed=seed)
    positions, spent = {}, 0.0
    for s in history.columns[:held]:
        price = float(history[s].iloc[-1])
        qty = float(max(1, int(20_000 / price)))
        positions[str(s)] = Holding(str(s), qty, price, synthetic.NOW - timedelta(days=100))
        spent += qty * price
    return PortfolioState(positions=positions, cash=1_000_000.0 - spent, history=history, now=synthetic.NOW)


def turnover(plan: PlanResult) -> float:
    return sum(abs(s.qty * s.price) for s in plan.steps)


def end_state(plan: PlanResult, state: PortfolioState) -> tuple[float, dict[str, float]]:
    """(equity, end weight per symbol) from the trades and the last closes."""
    closes = {str(s): float(state.history[s].iloc[-1]) for s in state.history.columns}
    held = {s: h.qty for s, h in state.positions.items()}
    cash = state.cash
    for s in plan.steps:
        sign = -1.0 if s.side == SELL else 1.0
        held[s.symbol] = held.get(s.symbol, 0.0) + sign * s.qty
        cash -= sign * s.qty * s.price + s.cost
    equity = state.cash + sum(h.qty * closes[s] for s, h in state.positions.items())
    return equity, {s: q * closes[s] / equity for s, q in held.items() if q > 0}


def plan_of(name: str, sliders: dict[str, float], overrides: dict[str, object], state: PortfolioState) -> PlanResult:
    return build_planner(compose_preset(load_preset(name), sliders, overrides)).plan(state)


@pytest.mark.parametrize("seed, held", [(3, 3), (1, 3), (7, 6)])
@pytest.mark.parametrize("tuning", list(TUNINGS))
def test_at_equal_tuning_aggressive_ge_default_ge_conservative(seed: int, held: int, tuning: str) -> None:
    sliders, overrides = TUNINGS[tuning]
    state = page_like(seed, held)
    t = {n: turnover(plan_of(n, sliders, overrides, state)) for n in PRESETS}
    assert t["conservative"] <= t["default"] + 0.01 <= t["aggressive"] + 0.02, t


def test_cautious_sliders_keep_a_tuned_aggressive_within_its_own_limits() -> None:
    """The audited case: Aggressive with every slider at the cautious end proposed Default's full plan as shipped,
    past its own 10% max weight and 10% turnover budget."""
    state = page_like()
    tuned = compose_preset(load_preset("aggressive"), CAUTIOUS, {})
    assert tuned.params["targets.max_weight"] == pytest.approx(0.10)  # the slider mapping's cautious end
    assert tuned.params["sequences.max_turnover"] == pytest.approx(0.10)
    plan = build_planner(tuned).plan(state)
    equity, weights = end_state(plan, state)
    assert turnover(plan) <= 0.10 * equity + 0.01
    bought = {s.symbol for s in plan.steps if s.side != SELL}
    assert all(weights[s] <= 0.10 + 1e-9 for s in bought), weights
    assert not any("turnover at least default's plan" in n for n in plan.notes)  # not the shipped default
    assert any("turnover at least tuned default's plan" in n for n in plan.notes), plan.notes


@pytest.mark.parametrize("seed, held", [(3, 3), (2, 4)])
def test_cautious_sliders_shrink_and_bold_sliders_grow_every_presets_plan(seed: int, held: int) -> None:
    """Every preset with the cautious sliders trades less than it does as shipped, and less than Default as shipped
    (Aggressive's floor was Default's shipped plan, whatever its sliders); Conservative with the bold sliders trades
    more than as shipped."""
    state = page_like(seed, held)
    default = turnover(build_planner(load_preset("default")).plan(state))
    for name in PRESETS:
        shipped = turnover(build_planner(load_preset(name)).plan(state))
        cautious = turnover(plan_of(name, CAUTIOUS, {}, state))
        assert cautious < shipped and cautious < default, (name, cautious, shipped, default)
    conservative = turnover(build_planner(load_preset("conservative")).plan(state))
    assert turnover(plan_of("conservative", BOLD, {}, state)) > conservative


def test_an_anchor_plan_past_this_presets_turnover_budget_is_not_a_floor() -> None:
    """Default with at_least = aggressive (as shipped: only turnover.* changed): aggressive's plan trades past
    default's 40% budget on this cash-rich portfolio, so it is no candidate and no floor; a note says why."""
    state = page_like()
    equity, _ = end_state(build_planner(load_preset("default")).plan(state), state)
    aggressive = turnover(build_planner(load_preset("aggressive")).plan(state))
    assert aggressive > 0.4 * equity  # the case is informative
    plan = build_planner(compose_preset(load_preset("default"), {}, {"turnover.at_least": "aggressive"})).plan(state)
    assert turnover(plan) <= 0.4 * equity + 0.01
    assert any(n.startswith("turnover floor not applied: aggressive's plan trades") for n in plan.notes), plan.notes
