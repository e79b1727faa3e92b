"""Today's rule survives as the trend calculator: its signal equals the original plan.trend_signal."""
from __future__ import annotations

import numpy as np
import pytest

from engine.planner.context import trend_quality
from engine.planner.plan import trend_signal
from engine.planner.presets import PlanLimits


@pytest.mark.parametrize("drift", [0.002, -0.002, 0.0])
def test_trend_quality_is_the_old_signal(drift: float) -> None:
    rng = np.random.default_rng(1)
    closes = 100 * np.exp(np.cumsum(drift + 0.01 * rng.standard_normal(300)))
    limits = PlanLimits(1.0, 12, 50, 0.01, 0.2, 0.5, False)
    assert trend_quality(closes, 12, 50) == pytest.approx(trend_signal(closes, limits))
    assert trend_quality(closes[:40], 12, 50) == 0.0  # too short
