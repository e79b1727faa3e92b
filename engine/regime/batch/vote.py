"""MultiTimeframeModule.prepare's per-timeframe accumulation, compiled for long row sets (numba, cached).

Why: as plain Python the loop costs microseconds a row, fine for the live path's new bar but not for a
replay chunk's thousands of rows. The function compiled is the one the live path runs
(engine/regime/modules/mtf_sums.py), so every sum is the same value on both paths.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from engine.regime.modules import mtf_sums

add_timeframe = njit(cache=True)(mtf_sums.add_timeframe)


@njit(cache=True)
def column_nanstd(a: np.ndarray) -> np.ndarray:
    """np.nanstd(a, axis=0) of a C-ordered 2-D array, the same floats: numpy's nanvar steps per column
    (NaN read as 0, each axis-0 sum row after row from the first row, mean = sum / count, squared
    deviations summed the same way, / count, NaN where the count is 0, square root), without its copies."""
    k, m = a.shape
    out = np.empty(m)
    for j in range(m):
        cnt = 0
        s = 0.0
        for i in range(k):
            x = a[i, j]
            x = 0.0 if np.isnan(x) else x
            cnt += 0 if np.isnan(a[i, j]) else 1
            s = x if i == 0 else s + x
        avg = s / cnt if cnt > 0 else np.nan
        v = 0.0
        for i in range(k):
            d = 0.0 if np.isnan(a[i, j]) else a[i, j] - avg
            sq = d * d
            v = sq if i == 0 else v + sq
        out[j] = np.sqrt(v / cnt) if cnt > 0 else np.nan
    return out
