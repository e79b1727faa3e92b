"""The Regime page's out-of-sample reliability diagram: the calibrator never sees a regime of the test period
(the calls just before the split were judged by regimes after it, and were fitted on)."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import webapp.regime_calibration as rc
from engine.params import default_params
from engine.regime.ensemble.config import CalibrationConfig


def _history(seed: int, n: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    labels = np.repeat(rng.integers(0, 4, n), rng.integers(2, 10, n))[:n]
    return pd.DataFrame({"confidence": rng.uniform(0.4, 0.95, n), "regime_id": labels})


def _fits(monkeypatch: pytest.MonkeyPatch, hist: pd.DataFrame) -> tuple[list[tuple[Any, Any]], dict[str, Any]]:
    seen: list[tuple[Any, Any]] = []
    real = rc.fit_calibrator

    def spy(c: np.ndarray, y: np.ndarray, cfg: CalibrationConfig) -> Any:
        seen.append((c.copy(), y.copy()))
        return real(c, y, cfg)

    monkeypatch.setattr(rc, "fit_calibrator", spy)
    rep = rc.reliability_report(hist, default_params())
    assert rep is not None and len(seen) == 1
    return seen, rep


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_changing_the_test_periods_regimes_does_not_change_the_fit(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    n = 600
    h = CalibrationConfig.of(default_params()).horizon_bars
    split = (n - h) // 2  # calls 0 .. n-h-1 have a known outcome; the middle one is the split
    hist = _history(seed, n)
    other = hist.copy()
    other.loc[split:, "regime_id"] = (other.loc[split:, "regime_id"].to_numpy() + 1) % 4  # every test-period regime
    first, _ = _fits(monkeypatch, hist)
    second, rep = _fits(monkeypatch, other)
    (c1, y1), (c2, y2) = first[0], second[0]
    np.testing.assert_array_equal(c1, c2)
    np.testing.assert_array_equal(y1, y2)
    lab = hist["regime_id"].to_numpy()
    fit_rows = np.arange(split - h)  # t + h < split: judged by a regime before the split
    np.testing.assert_array_equal(y1, (lab[fit_rows + h] == lab[fit_rows]).astype(float))
    np.testing.assert_array_equal(c1, hist["confidence"].to_numpy()[fit_rows])
    assert rep["n_fit"] == split - h and rep["n_test"] == n - h - (split - h)  # every other known call is judged
