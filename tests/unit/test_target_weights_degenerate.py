"""Target weights when a universe name's closes never move (stale or halted: zero volatility).

Such a name used to get the largest weight (inverse volatility, minimum variance: 1 / ~0) or made HRP risk parity
raise. Now it gets no weight and the others are weighted as if it were absent: the expectations are numpy's inverse
volatility and PyPortfolioOpt's HRP / minimum variance on the moving names alone (the oracle)."""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from pypfopt import HRPOpt, risk_models
from pypfopt.efficient_frontier import EfficientFrontier

from engine.planner.targets import target_weights


def _closes() -> pd.DataFrame:
    """A-C move (0.5%, 1%, 2% a day); FLAT sits at 50 for the whole window; LATE only for its last 30 days."""
    rng = np.random.default_rng(8)
    moving = pd.DataFrame(100 * np.exp(np.cumsum(rng.normal(0, [0.005, 0.01, 0.02], (200, 3)), axis=0)),
                          columns=list("ABC"))
    late = np.full(200, np.nan)
    late[170:] = 20.0  # a halted name: listed late and never traded since
    return moving.assign(FLAT=50.0, LATE=late)


MOVING = list("ABC")


def test_inverse_volatility_gives_a_flat_name_no_weight() -> None:
    closes = _closes()
    w = target_weights("inverse_volatility", closes, [*MOVING, "FLAT", "LATE"], 1.0, 1.0)
    vol = closes[MOVING].pct_change().dropna().std().to_numpy()
    expected = (1 / vol) / (1 / vol).sum()
    assert set(w) == set(MOVING)
    assert [w[s] for s in MOVING] == pytest.approx(list(expected), rel=1e-6)
    # the array path (the plan context's) gives the same
    values = closes.to_numpy(dtype=float)
    assert target_weights("inverse_volatility", closes, [*MOVING, "FLAT"], 1.0, 1.0, values=values) == pytest.approx(w)


def test_risk_parity_does_not_raise_on_constant_closes_and_equals_hrp_without_them(caplog) -> None:
    closes = _closes()
    with caplog.at_level(logging.WARNING, logger="engine.planner.targets"):
        w = target_weights("risk_parity", closes, [*MOVING, "FLAT"], 1.0, 1.0)
    expected = HRPOpt(closes[MOVING].pct_change(fill_method=None).dropna(how="all").fillna(0.0)).optimize()
    assert set(w) == set(MOVING)
    assert [w[s] for s in MOVING] == pytest.approx([expected[s] for s in MOVING], rel=1e-9)
    assert "FLAT" in caplog.text and "stale or halted" in caplog.text


def test_min_variance_gives_a_flat_name_no_weight() -> None:
    closes = _closes()
    w = target_weights("min_variance", closes, [*MOVING, "FLAT"], 1.0, 1.0)
    cov = risk_models.sample_cov(closes[MOVING], frequency=252, fix_method="spectral")
    expected = EfficientFrontier(None, cov, weight_bounds=(0, 1.0)).min_volatility()
    assert "FLAT" not in w
    assert [w.get(s, 0.0) for s in MOVING] == pytest.approx([expected[s] for s in MOVING], abs=1e-4)
    assert w["A"] > w["C"]  # the calmest moving name weighs most, not the flat one


@pytest.mark.parametrize("method", ["risk_parity", "min_variance", "inverse_volatility"])
def test_a_universe_of_only_flat_names_gets_no_weights(method: str) -> None:
    closes = _closes()
    assert target_weights(method, closes, ["FLAT", "LATE"], 0.5, 0.9) == {}
    one = target_weights(method, closes, ["A", "FLAT"], 0.5, 0.9)  # one moving name: capped at max_weight
    assert one == pytest.approx({"A": 0.5})
