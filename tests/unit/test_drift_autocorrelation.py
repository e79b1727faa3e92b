"""Drift detection on autocorrelated features: the engine's drift features have lag-1 autocorrelation
0.93-0.998, and a stationary AR(1) series used to "drift" in 7% (phi 0.9) to 91% (phi 0.995) of windows.
Seeded, bounded simulations (a window of 1,000 values, the workbook's memory_window; threshold 1.5 sd)."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from scipy.signal import lfilter

from engine.tuning.drift import detect

N = 1000
THRESHOLD = 1.5  # DriftConfig.of(default_params()).threshold


def _ar1(rng: np.random.Generator, phi: float, n: int = N, burn: int = 2000) -> np.ndarray:
    """A stationary AR(1) path (unit innovations), started far enough back to forget its start."""
    return np.asarray(lfilter([1.0], [1.0, -phi], rng.normal(0.0, 1.0, n + burn))[burn:])


def _rate(make: Callable[[], np.ndarray], runs: int) -> tuple[float, list[int]]:
    found = [f for f in (detect("x", make(), THRESHOLD) for _ in range(runs)) if f is not None]
    return len(found) / runs, [f.index for f in found]


@pytest.mark.parametrize("phi", [0.9, 0.98, 0.995])
def test_a_stationary_autocorrelated_series_rarely_drifts(phi: float) -> None:
    rng = np.random.default_rng(int(phi * 1000))
    rate, _ = _rate(lambda: _ar1(rng, phi), 80)
    assert rate <= 0.05


def test_independent_values_keep_no_false_alarms_and_find_a_two_sd_shift() -> None:
    rng = np.random.default_rng(21)
    assert _rate(lambda: rng.normal(0.0, 1.0, N), 60)[0] == 0.0
    rate, where = _rate(lambda: np.r_[rng.normal(0.0, 1.0, 600), rng.normal(2.0, 1.0, 400)], 60)
    assert rate >= 0.95
    assert abs(float(np.median(where)) - 600) <= 10  # the change point, not ADWIN's bucket edge


def test_a_clear_shift_in_an_autocorrelated_series_is_still_found() -> None:
    rng = np.random.default_rng(22)
    phi = 0.9
    step = 3.0 / np.sqrt(1.0 - phi**2)  # three stationary standard deviations of the AR(1) process
    rate, where = _rate(lambda: _ar1(rng, phi) + np.r_[np.zeros(600), np.full(400, step)], 60)
    assert rate >= 0.9
    assert abs(float(np.median(where)) - 600) <= 30
