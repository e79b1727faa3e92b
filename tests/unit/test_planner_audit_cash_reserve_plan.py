"""A plan keeps the preset's cash reserve (targets.cash_reserve, the risk appetite slider's "keep a cash reserve")
and says so when a buy was cut for it. Before, the reserve only scaled the target weights, so with positions held
above target a plan spent the cash down to 0-6% of equity under the default preset's 10% reserve."""
from __future__ import annotations

import pytest

from engine.planner import synthetic
from engine.planner.planner import build_planner
from engine.planner.preset import load_preset
from engine.planner.types import Holding, PortfolioState
from engine.planner.values import number

OPENED = synthetic.NOW.replace(year=synthetic.NOW.year - 1)


@pytest.mark.parametrize(("seed", "held", "cut_noted"), [(3, 5, False), (1, 3, True)])
def test_a_plan_keeps_the_cash_reserve(seed: int, held: int, cut_noted: bool) -> None:
    """`held` positions of about 20,000 and 50,000 cash (33-45% of equity, above the 10% reserve)."""
    history = synthetic.history(symbols=8, seed=seed)
    last = history.iloc[-1]
    positions = {str(s): Holding(str(s), float(int(20_000 / last[s])), float(last[s]), OPENED)
                 for s in history.columns[:held]}
    state = PortfolioState(positions=positions, cash=50_000.0, history=history, now=synthetic.NOW)
    equity = 50_000.0 + sum(h.qty * float(last[s]) for s, h in positions.items())
    preset = load_preset("default")
    reserve = number(preset.params, "targets.cash_reserve")  # the default's risk appetite slider: 10%
    assert 50_000.0 / equity > reserve
    plan = build_planner(preset).plan(state)
    again = build_planner(preset).plan(state)
    assert plan.steps and [(s.symbol, s.qty) for s in plan.steps] == [(s.symbol, s.qty) for s in again.steps]
    assert min(s.cash_after for s in plan.steps) >= reserve * equity - 0.01, [(s.side, s.qty, s.symbol, s.cash_after)
                                                                               for s in plan.steps]
    assert any("keeps the cash reserve" in n for n in plan.notes) == cut_noted, plan.notes
