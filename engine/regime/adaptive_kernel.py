"""Compiled loops of AdaptiveThresholds.series (numba, cached on disk): the rolling order statistics of
the trailing window and the learning-rate recursion. Only comparisons, + and * (no contraction, no
transcendental functions), so the floats equal the bar-by-bar Python of adaptive.py exactly.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def rolling_ranks(x: np.ndarray, pre: int, w: int, ranks: np.ndarray) -> np.ndarray:
    """For each row j >= 0 of x[pre:], the ranks-th order statistics of x[pre + j - w : pre + j] (rows
    whose window is not full: NaN). A sorted copy of the window is kept: one removal, one insertion a row."""
    n = len(x) - pre
    out = np.full((n, len(ranks)), np.nan)
    first = max(0, w - pre)
    if first >= n:
        return out
    win = np.sort(x[pre + first - w:pre + first])
    for j in range(first, n):
        if j > first:
            old = x[pre + j - w - 1]
            new = x[pre + j - 1]
            k = np.searchsorted(win, old)  # drop the oldest value, insert the newest, in place
            if new >= old:
                while k + 1 < w and win[k + 1] < new:
                    win[k] = win[k + 1]
                    k += 1
            else:
                while k > 0 and win[k - 1] > new:
                    win[k] = win[k - 1]
                    k -= 1
            win[k] = new
        for r in range(len(ranks)):
            out[j, r] = win[ranks[r]]
    return out


@njit(cache=True)
def learn(targets: np.ndarray, ready: np.ndarray, state: np.ndarray, rate: float) -> np.ndarray:
    """state <- state + rate * (target - state) on ready rows; the state in force at every row (state updated)."""
    n, k = targets.shape
    out = np.empty((n, k))
    for j in range(n):
        if ready[j]:
            for c in range(k):
                state[c] = state[c] + rate * (targets[j, c] - state[c])
        for c in range(k):
            out[j, c] = state[c]
    return out
