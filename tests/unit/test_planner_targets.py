"""Target weights: per-position cap and cash reserve (hand-computed), inverse volatility against numpy,
HRP and minimum variance through PyPortfolioOpt respecting the same limits, fixed weights from a CSV."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.planner.targets import cap_weights, target_weights


def _closes() -> pd.DataFrame:
    rng = np.random.default_rng(4)
    vols = [0.005, 0.01, 0.02, 0.04]
    return pd.DataFrame(100 * np.exp(np.cumsum(rng.normal(0, vols, (250, 4)), axis=0)), columns=list("ABCD"))


def test_cap_weights_redistributes_the_excess() -> None:
    # 0.6/0.3/0.1 scaled to 0.9 = 0.54/0.27/0.09; cap 0.4: A 0.4, excess 0.14 split 3:1 -> B 0.375, C 0.125
    w = cap_weights({"A": 0.6, "B": 0.3, "C": 0.1}, 0.4, 0.9)
    assert w == pytest.approx({"A": 0.4, "B": 0.375, "C": 0.125})
    assert cap_weights({"A": 1.0, "B": 1.0}, 0.3, 0.9) == pytest.approx({"A": 0.3, "B": 0.3})  # cap binds the total


def test_inverse_volatility_matches_numpy() -> None:
    closes = _closes()
    w = target_weights("inverse_volatility", closes, list("ABCD"), 1.0, 1.0)
    vol = closes.pct_change().dropna().std().to_numpy()
    expected = (1 / vol) / (1 / vol).sum()
    assert [w[s] for s in "ABCD"] == pytest.approx(list(expected), rel=1e-6)


@pytest.mark.parametrize("method", ["risk_parity", "min_variance", "inverse_volatility"])
def test_every_method_respects_the_cap_and_the_invested_share(method: str) -> None:
    w = target_weights(method, _closes(), list("ABCD"), 0.35, 0.9)
    assert sum(w.values()) == pytest.approx(0.9) and max(w.values()) <= 0.35 + 1e-9
    assert w["A"] > w["D"]  # the calmest name weighs more than the wildest


def test_fixed_targets_from_csv_are_capped() -> None:
    w = target_weights("fixed", _closes(), [], 0.3, 0.95, fixed={"A": 0.5, "B": 0.2})
    assert w == pytest.approx({"A": 0.3, "B": 0.3})  # 0.7 wanted, but two names capped at 0.3 hold 0.6
