"""volume_profile.weighted_quantiles for many windows, compiled (numba, cached on disk after the first compile).

Why: the numpy version sorts every window with a stable argsort over a 2-D copy and gathers it back
(~10 ms per replay chunk); here each window is sorted by a stable insertion sort (windows are short:
IndicatorConfiguration profile_periods) and the weights are accumulated in the same order with the
same sequential sum as numpy's cumsum, so every quantile is the same value.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def weighted_quantiles(values: np.ndarray, weights: np.ndarray, qs: np.ndarray) -> np.ndarray:
    """Row-wise weighted quantiles of 2-D arrays (rows = windows); NaN where a row has no weight."""
    m, p = values.shape
    out = np.empty((m, len(qs)))
    order = np.empty(p, np.int64)
    cw = np.empty(p)
    for r in range(m):
        for j in range(p):  # stable insertion sort of the row's indices by value (ties keep their order)
            v = values[r, j]
            k = j
            while k > 0 and values[r, order[k - 1]] > v:
                order[k] = order[k - 1]
                k -= 1
            order[k] = j
        acc = 0.0
        for j in range(p):
            acc = weights[r, order[j]] if j == 0 else acc + weights[r, order[j]]
            cw[j] = acc
        tot = cw[p - 1] if p > 0 else 0.0
        for c in range(len(qs)):
            lim = qs[c] * tot
            hit = 0
            for j in range(p):
                if cw[j] >= lim:
                    hit = j
                    break
            out[r, c] = values[r, order[hit]] if tot > 0 else np.nan
    return out
