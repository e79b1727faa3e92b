"""End-state scoring parts against independent computations (empyrical for CVaR and drawdown)."""
from __future__ import annotations

import empyrical
import numpy as np
import pandas as pd
import pytest

from engine.planner.scoring import cvar, max_drawdown, monte_carlo, score
from engine.planner.simulate import SimResult
from tests.unit.planner_helpers import ctx


def test_cvar_and_drawdown_match_empyrical() -> None:
    r = np.random.default_rng(5).normal(0.0005, 0.02, 500)
    assert cvar(r, 0.95) == pytest.approx(-empyrical.conditional_value_at_risk(r, cutoff=0.05), rel=0.02)
    assert max_drawdown(r) == pytest.approx(-empyrical.max_drawdown(r), rel=1e-9)


def test_parts_for_a_hand_made_end_state() -> None:
    returns = pd.DataFrame({"A": [0.01, -0.02, 0.03, 0.0], "B": [0.0, 0.0, 0.0, 0.0]})
    c = ctx({"A": 10.0, "B": 10.0}, cash=1000.0, targets={"A": 0.5, "B": 0.5}, returns=returns,
            params={"scoring.horizon_days": 1})
    sim = SimResult([], cash=0.0, positions={"A": 50, "B": 50}, costs=5.0)
    parts = score(sim, c)
    assert parts["diversification"] == pytest.approx(50.0)  # 1 - (0.5^2 + 0.5^2)
    assert parts["target_distance"] == pytest.approx(0.0)
    assert parts["cost"] == pytest.approx(0.5)  # 5 / 1000
    daily = 0.5 * returns["A"].to_numpy()
    assert parts["volatility"] == pytest.approx(100 * daily.std())
    assert parts["return"] == pytest.approx(100 * 0.5 * returns["A"].mean())
    cash_only = score(SimResult([], 1000.0, {}, 0.0), c)
    assert cash_only["diversification"] == 0 and cash_only["target_distance"] == pytest.approx(50.0)


def test_monte_carlo_is_seeded() -> None:
    returns = pd.DataFrame({"A": np.random.default_rng(1).normal(0, 0.01, 100)})
    c = ctx({"A": 10.0}, cash=0.0, returns=returns, params={"scoring.mc_paths": 100})
    sim = SimResult([], 0.0, {"A": 10}, 0.0)
    first = monte_carlo(sim, c, np.random.default_rng(7))
    assert first == monte_carlo(sim, c, np.random.default_rng(7)) and first["mc_cvar"] > 0
