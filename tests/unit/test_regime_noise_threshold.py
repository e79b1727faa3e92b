"""Adaptive noise threshold (NoiseFiltering adaptive_noise_threshold, noise_learning_rate, noise_memory_window;
StabilityConfiguration noise_threshold): hand-computed recursion steps and the records of both replay paths."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.market.simulated import SimulatedMarket
from engine.params import default_params
from engine.regime.noise import NoiseFilter
from engine.regime.replay import replay
from engine.regime.testing import edited

PS = default_params()


def test_threshold_steps_by_hand() -> None:
    f = NoiseFilter(PS)  # reference workbook: adaptive ON, learning rate 0.05, base threshold 0.4
    assert (f.adaptive, f.learning_rate, f.base_threshold, f.memory) == (True, 0.05, 0.4, 50)
    got = f.thresholds(np.array([np.nan, 0.5, 1.0, np.nan, 0.2]))
    # 0.4 held; 0.4 + 0.05 (0.5 - 0.4) = 0.405; 0.405 + 0.05 (1 - 0.405) = 0.43475; held; 0.43475 + 0.05 (0.2 - 0.43475)
    assert got == pytest.approx([0.4, 0.405, 0.43475, 0.43475, 0.4230125], abs=1e-12)


def test_fixed_when_not_adaptive() -> None:
    ps = edited(PS, {("NoiseFiltering", "adaptive_noise_threshold"): False,
                     ("StabilityConfiguration", "noise_threshold"): 0.3})
    assert NoiseFilter(ps).thresholds(np.array([np.nan, 0.9, 0.9])).tolist() == [0.3, 0.3, 0.3]


def _bars(n: int) -> pd.DataFrame:
    bars, _ = SimulatedMarket(seed=3).history(n)
    return bars[bars["symbol"] == "IDX"].rename(columns={"ts": "timestamp"}).reset_index(drop=True)


@pytest.mark.parametrize("engine", ["incremental", "batch"])
def test_records_carry_the_adapted_threshold(engine: str) -> None:
    df = _bars(700)
    out = replay(df, PS, engine=engine)
    # independent oracle: the efficiency-ratio noise over 50 log returns, then the exponential recursion
    r = np.r_[0.0, np.diff(np.log(df["close"].to_numpy()))]
    noise = np.full(len(r), np.nan)
    for t in range(49, len(r)):
        w = r[t - 49:t + 1]
        noise[t] = 1.0 - abs(w.sum()) / np.abs(w).sum()
    thr, want = 0.4, []
    for x in noise:
        thr = thr + 0.05 * (x - thr) if np.isfinite(x) else thr
        want.append(thr)
    rows = ~out["warmup"].to_numpy(bool)
    assert rows.sum() > 500
    assert out["noise_threshold"].to_numpy()[rows] == pytest.approx(np.array(want)[rows], abs=1e-9)
    assert out["noise_level"].to_numpy()[rows] == pytest.approx(noise[rows], abs=1e-9, nan_ok=True)
    assert out["noise_threshold"].to_numpy()[rows].max() > 0.6  # minute data: the threshold left the 0.4 seed
