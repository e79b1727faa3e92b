"""Denoising of the price input (engine/regime/denoise.py): Kalman against pykalman and by hand, the wavelet
against a per-window PyWavelets oracle, no look-ahead (future bars perturbed, past outputs unchanged)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import pywt
from pykalman import KalmanFilter

from engine.market.simulated import SimulatedMarket
from engine.params import default_params
from engine.regime import batch
from engine.regime.denoise import Denoiser, kalman_level, wavelet_last
from engine.regime.replay import replay
from engine.regime.series import PriceBuffer
from engine.regime.testing import edited

PS = default_params()
ON = edited(PS, {("NoiseFiltering", "kalman_filter_enabled"): True, ("NoiseFiltering", "wavelet_denoising"): True})


def _walk(n: int, seed: int = 1) -> np.ndarray:
    return np.log(100.0) + np.cumsum(np.random.default_rng(seed).normal(0.0, 0.002, n))


def test_kalman_steps_by_hand() -> None:
    # R = 1, Q = 0.5, prior (y0, 1): gains 0.5 each bar -> 0, 0 + 0.5 (1 - 0) = 0.5, 0.5 + 0.5 (1 - 0.5) = 0.75
    assert kalman_level(np.array([0.0, 1.0, 1.0])).tolist() == pytest.approx([0.0, 0.5, 0.75])


def test_kalman_equals_pykalman() -> None:
    y = _walk(400)
    kf = KalmanFilter(transition_matrices=[[1.0]], observation_matrices=[[1.0]], transition_covariance=[[0.5]],
                      observation_covariance=[[1.0]], initial_state_mean=[y[0]], initial_state_covariance=[[1.0]])
    means, _ = kf.filter(y)
    assert kalman_level(y) == pytest.approx(means[:, 0], abs=1e-12)


def test_wavelet_equals_per_window_pywavelets() -> None:
    y, w = _walk(160), 50
    want = y.copy()
    for t in range(w - 1, len(y)):
        c = pywt.wavedec(y[t - w + 1:t + 1], "db4", level=2)
        thr = np.median(np.abs(c[-1])) / 0.6745 * np.sqrt(2 * np.log(w))
        c = [c[0]] + [pywt.threshold(d, thr, mode="soft") for d in c[1:]]
        want[t] = pywt.waverec(c, "db4")[w - 1]
    got = wavelet_last(y, w)
    assert got == pytest.approx(want, abs=1e-12)
    assert np.abs(got[w:] - y[w:]).max() > 1e-5  # it did smooth


def test_no_look_ahead_in_the_filters() -> None:
    y = _walk(300)
    z = y.copy()
    z[200:] += np.random.default_rng(9).normal(0, 0.05, 100)
    for f in (kalman_level, lambda a: wavelet_last(a, 50)):
        a, b = f(y), f(z)
        assert a[:200].tolist() == b[:200].tolist() and a[200:].tolist() != b[200:].tolist()


def test_bars_scaled_with_their_close() -> None:
    c = np.exp(_walk(120))
    buf = PriceBuffer(np.arange(120, dtype=np.int64), c * 0.999, c * 1.002, c * 0.997, c, np.ones(120))
    out = Denoiser(ON).apply(buf)
    assert out.close == pytest.approx(np.exp(wavelet_last(kalman_level(np.log(c)), 50)))
    assert out.high / out.close == pytest.approx(np.full(120, 1.002)) and out.volume.tolist() == [1.0] * 120
    assert Denoiser(PS).apply(buf) is buf  # both off in the reference workbook


def _bars(n: int) -> pd.DataFrame:
    bars, _ = SimulatedMarket(seed=4).history(n)
    return bars[bars["symbol"] == "IDX"].rename(columns={"ts": "timestamp"}).reset_index(drop=True)


def test_classifier_rows_do_not_see_future_bars() -> None:
    df = _bars(500)
    moved = df.copy()
    moved.loc[400:, ["open", "high", "low", "close"]] *= 1.03
    a = replay(df, ON, engine="incremental")
    b = replay(moved, ON, engine="incremental")
    pd.testing.assert_frame_equal(a.iloc[:400], b.iloc[:400])
    assert not a.iloc[400:]["trend_component"].equals(b.iloc[400:]["trend_component"])
    plain = replay(df, PS, engine="incremental")
    assert not np.allclose(a["trend_component"].to_numpy()[100:], plain["trend_component"].to_numpy()[100:],
                           equal_nan=True)  # switching them on changes what the modules see


def test_batch_equals_incremental_with_denoising() -> None:
    df = _bars(900)
    assert batch.unsupported_reason(ON, len(df)) is None  # the batch path itself, no fallback
    pd.testing.assert_frame_equal(replay(df, ON, engine="batch"), replay(df, ON, engine="incremental"))
