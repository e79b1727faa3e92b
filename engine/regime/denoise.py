"""Denoising of the price input before the modules (NoiseFiltering kalman_filter_enabled, wavelet_denoising).

Both work on log closes and are causal: the value at bar t uses bars <= t only, so the live path (one bar at
a time) and a replay give the same rows. The bar's open/high/low are scaled by the same factor as its close
(shape kept, ATR% unchanged by the rescale itself); volume is untouched. Kalman runs first, then the wavelet.

Kalman: a local-level model (log close = level + observation noise R, level = previous level + step noise
Q), filtered forward from the buffer's first bar (prior: that close, variance R). Only Q/R matters for the
filtered mean; KALMAN_Q_OVER_R = 0.5 gives a steady-state gain of exactly 0.5 (each bar moves the level half
way to the new close). Written out as the scalar recursion (per-bar pykalman calls cost ~100x more on the
live path's 5,000-bar buffer); tests/unit/test_regime_denoise.py checks it against pykalman's filter.

Wavelet (PyWavelets): for each bar, the trailing window of noise_memory_window log closes is decomposed
(WAVELET, up to WAVELET_LEVEL levels), every detail level soft-thresholded at the universal threshold
sigma x sqrt(2 ln n) (sigma = median |finest details| / 0.6745), reconstructed, and only the window's last
value kept: no look-ahead. Bars with fewer than a window behind them are left as they are.
"""
from __future__ import annotations

import math

import numpy as np
import pywt

from engine.params.paramset import ParamSet
from engine.params.typed import Parameters
from engine.regime.series import PriceBuffer

KALMAN_Q_OVER_R = 0.5  # level step variance over observation variance (the workbook has only the switch)
WAVELET = "db4"  # Daubechies 4: the usual choice for price denoising
WAVELET_LEVEL = 2  # at most; fewer when the window is too short for the filter
MAD_TO_SIGMA = 0.6745  # median |N(0, 1)|


def kalman_level(y: np.ndarray, q_over_r: float = KALMAN_Q_OVER_R) -> np.ndarray:
    """Filtered level of a local-level model (R = 1, Q = q_over_r), pykalman's filter() written out."""
    out = np.empty(len(y))
    if not len(y):
        return out
    x, p = float(y[0]), 1.0  # prior of the first bar: its own value, variance R
    for t, obs in enumerate(y.tolist()):
        if t:
            p += q_over_r  # predict: the level steps
        k = p / (p + 1.0)
        x += k * (obs - x)
        p *= 1.0 - k
        out[t] = x
    return out


def wavelet_last(y: np.ndarray, window: int) -> np.ndarray:
    """Per bar: soft-threshold wavelet denoising of the trailing ``window`` values, the last value kept."""
    out = y.astype(np.float64).copy()
    if window < 2 or len(y) < window:
        return out
    wins = np.lib.stride_tricks.sliding_window_view(y.astype(np.float64), window)
    level = min(WAVELET_LEVEL, pywt.dwt_max_level(window, pywt.Wavelet(WAVELET).dec_len))
    if level < 1:
        return out
    coeffs = pywt.wavedec(wins, WAVELET, level=level, axis=-1)
    sigma = np.median(np.abs(coeffs[-1]), axis=-1, keepdims=True) / MAD_TO_SIGMA
    lam = sigma * math.sqrt(2.0 * math.log(window))
    den = [coeffs[0]] + [np.sign(d) * np.maximum(np.abs(d) - lam, 0.0) for d in coeffs[1:]]
    rec = pywt.waverec(den, WAVELET, axis=-1)
    out[window - 1:] = rec[:, window - 1]
    return out


class Denoiser:
    """The workbook's switches; ``apply`` returns the buffer the modules see (the same object when off)."""

    def __init__(self, ps: ParamSet) -> None:
        c = Parameters(ps).noise_filtering
        self.kalman = bool(c.kalman_filter_enabled)
        self.wavelet = bool(c.wavelet_denoising)
        self.window = int(c.noise_memory_window)

    @property
    def on(self) -> bool:
        return self.kalman or self.wavelet

    def apply(self, buf: PriceBuffer) -> PriceBuffer:
        if not self.on or not len(buf):
            return buf
        y = np.log(buf.close)
        if self.kalman:
            y = kalman_level(y)
        if self.wavelet:
            y = wavelet_last(y, self.window)
        scale = np.exp(y) / buf.close
        return PriceBuffer(buf.ts, buf.open * scale, buf.high * scale, buf.low * scale, np.exp(y), buf.volume)
