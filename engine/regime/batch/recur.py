"""Per-bar recurrences of the shared regime code, compiled for long arrays (numba, cached on disk).

Why: a Python loop over every bar of the buffer costs ~0.3 us a bar, and the buffer (MAX_BUFFER
bars) is recomputed for every replay chunk; compiled, the same floating-point operations in the same
order give the same values.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def held_ema(x: np.ndarray, start: float, rate: float) -> np.ndarray:
    """thr <- thr + rate * (x - thr) per bar from ``start``; held where x is NaN (NoiseFilter.thresholds)."""
    out = np.empty(len(x))
    thr = start
    for k in range(len(x)):
        v = x[k]
        if v == v:
            thr += rate * (v - thr)
        out[k] = thr
    return out
