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
    whose window is not full: NaN). A sorted copy of the window is kept: one removal, one insertion a row
    (the values it holds are the window's own, so any order of moves gives the same numbers)."""
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
            k = 0  # where old sits (values below it), where new goes (values below new, old among them)
            p = 0  # counted over the whole window: branch-free, vectorised, cheaper than a search
            for i in range(w):
                k += win[i] < old
                p += win[i] < new
            if p > k:  # new moves above old's slot: the values between shift down one
                for i in range(k, p - 1):
                    win[i] = win[i + 1]
                win[p - 1] = new
            else:  # new at or below old's slot: the values between shift up one
                for i in range(k, p, -1):
                    win[i] = win[i - 1]
                win[p] = new
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
