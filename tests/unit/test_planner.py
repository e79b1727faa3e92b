"""The planner's original rule survives as the trend calculator (engine/planner/calculators/trend.py), scored by
engine.planner.context.trend_quality: tanh(2 x (EMA_fast / EMA_slow - 1) / (std of the log returns of the last
`slow` closes x sqrt(slow))), 0 when history is short or flat. Checked against a plain-numpy EMA written here (TA-Lib's EMA
seeds with the simple mean of the first `period` closes, then steps by alpha = 2 / (period + 1))."""
from __future__ import annotations

import math

import numpy as np
import pytest

from engine.planner.context import trend_quality


def ema(closes: np.ndarray, period: int) -> float:
    alpha, value = 2.0 / (period + 1), float(np.mean(closes[:period]))
    for price in closes[period:]:
        value = alpha * float(price) + (1 - alpha) * value
    return value


@pytest.mark.parametrize("drift", [0.002, -0.002, 0.0])
def test_trend_quality_matches_its_formula(drift: float) -> None:
    rng = np.random.default_rng(1)
    closes = 100 * np.exp(np.cumsum(drift + 0.01 * rng.standard_normal(300)))
    vol = float(np.std(np.diff(np.log(closes[-50:])))) * math.sqrt(50)
    expected = math.tanh((ema(closes, 12) / ema(closes, 50) - 1.0) / vol * 2.0)
    assert trend_quality(closes, 12, 50) == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert trend_quality(closes[:51], 12, 50) == 0.0  # fewer than slow + 2 closes


def test_trend_quality_by_hand() -> None:
    # fast 2, slow 3 on 1, 2, 4, 8, 12. EMA2 seeds at 1.5, then alpha 2/3: 4 -> 2/3*4 + 1/3*1.5 = 19/6;
    # 8 -> 16/3 + 19/18 = 115/18; 12 -> 8 + 115/54 = 547/54. EMA3 seeds at 7/3, then alpha 1/2: 8 -> 31/6;
    # 12 -> (12 + 31/6) / 2 = 103/12. The last 3 closes 4, 8, 12 give log returns ln 2, ln 1.5: population std
    # (ln 2 - ln 1.5) / 2, scaled by sqrt(3).
    rising = np.array([1.0, 2.0, 4.0, 8.0, 12.0])
    vol = (math.log(2) - math.log(1.5)) / 2 * math.sqrt(3)
    expected = math.tanh(((547 / 54) / (103 / 12) - 1) / vol * 2)
    assert trend_quality(rising, 2, 3) == pytest.approx(expected, rel=1e-12)
    assert trend_quality(np.array([5.0] * 60), 12, 50) == 0.0  # flat prices: no trend
