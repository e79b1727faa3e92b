"""Drift detection: fires on a constructed regime shift, stays quiet on stationary series."""
from __future__ import annotations

import numpy as np
import pytest

from engine.params.paramset import default_params
from engine.tuning.drift import DRIFT_SCALE, DriftConfig, detect, detect_all


def test_config_reads_the_workbook() -> None:
    cfg = DriftConfig.of(default_params())
    assert cfg.enabled is True
    assert cfg.threshold == pytest.approx(0.15 * DRIFT_SCALE)
    assert cfg.trigger == "PERFORMANCE_BASED"
    assert cfg.window == 1000


def test_a_mean_shift_of_three_sds_is_found_near_where_it_happened() -> None:
    rng = np.random.default_rng(3)
    x = np.r_[rng.normal(0.0, 1.0, 400), rng.normal(3.0, 1.0, 400)]
    f = detect("returns", x, 1.5)
    assert f is not None
    assert 350 <= f.index <= 460  # ADWIN's cut is bucket-granular: near the true change at 400
    # the measured shift is the sample means' difference over the earlier sd, recomputed here
    before, after = x[:f.index], x[f.index:]
    assert f.shift == pytest.approx(abs(after.mean() - before.mean()) / before.std())
    assert f.shift > 1.5


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_stationary_series_do_not_drift(seed: int) -> None:
    rng = np.random.default_rng(seed)
    feats = {"returns": rng.normal(0.0, 1.0, 1000), "confidence": rng.uniform(0.4, 0.9, 1000)}
    assert detect_all(feats, 1.5) == []


def test_a_small_shift_below_the_threshold_is_ignored() -> None:
    rng = np.random.default_rng(9)
    x = np.r_[rng.normal(0.0, 1.0, 2000), rng.normal(0.5, 1.0, 2000)]  # ADWIN sees it, 0.5 sd < 1.5 sd
    assert detect("x", x, 1.5) is None
    assert detect("x", x, 0.3) is not None


def test_gaps_keep_indices_in_the_original_series() -> None:
    rng = np.random.default_rng(4)
    x = np.r_[np.full(50, np.nan), rng.normal(0.0, 1.0, 300), rng.normal(4.0, 1.0, 300)]
    f = detect("module:x", x, 1.5)
    assert f is not None and 300 <= f.index <= 420


def test_too_short_series_never_drift() -> None:
    assert detect("x", np.r_[np.zeros(20), np.ones(20)], 0.1) is None


def test_a_move_away_from_constant_data_is_said_in_words() -> None:
    """Log review: 'mean 0 -> 0.1558 (155815498536.22 sd of the earlier data)' - a spread of float residue."""
    values = np.r_[np.zeros(200) + 1e-13 * (np.arange(200) % 2), np.full(200, 0.1558)]
    found = detect("module:CorrelationMatrix", values, 1.5)
    assert found is not None
    assert found.text().startswith("module:CorrelationMatrix: mean 5e-14 -> ")
    assert "(the earlier data were constant) at observation" in found.text() and " sd of" not in found.text()
    ordinary = detect("x", np.r_[np.random.default_rng(1).normal(0, 1, 300), np.random.default_rng(2).normal(3, 1, 300)],
                      1.5)
    assert ordinary is not None and " sd of the earlier data) at observation " in ordinary.text()
