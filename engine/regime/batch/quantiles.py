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


@njit(cache=True)
def _pairwise_sum(a: np.ndarray, s: int, n: int) -> float:
    """numpy's pairwise summation of the n <= 128 contiguous values a[s:s+n] (8 partial sums), the same
    rounding; the partial sums are scalars (no slice or copy per call: this runs once per row)."""
    if n < 8:
        res = 0.0
        for i in range(n):
            res += a[s + i]
        return res
    r0, r1, r2, r3 = a[s], a[s + 1], a[s + 2], a[s + 3]
    r4, r5, r6, r7 = a[s + 4], a[s + 5], a[s + 6], a[s + 7]
    i = 8
    while i < n - (n % 8):
        b = s + i
        r0 += a[b]
        r1 += a[b + 1]
        r2 += a[b + 2]
        r3 += a[b + 3]
        r4 += a[b + 4]
        r5 += a[b + 5]
        r6 += a[b + 6]
        r7 += a[b + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[s + i]
        i += 1
    return res


@njit(cache=True)
def window_profile(tp: np.ndarray, vol: np.ndarray, sgn: np.ndarray, rows: np.ndarray, periods: int,
                   qs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """VolumeProfileModule.profile's window work for each row t (window t-periods+1 .. t): the weighted
    quantiles of the typical price, the window volume and the signed volume, each summed as numpy sums
    a row of ``periods`` values (periods <= 128). The window's order (by price, ties by bar: numpy's
    stable argsort) is kept while it slides: one removal and one insertion per row."""
    m, p = len(rows), periods
    out = np.empty((m, len(qs)))
    vsum = np.empty(m)
    num = np.empty(m)
    order = np.empty(p, np.int64)  # bar indices, sorted
    buf = np.empty(p)
    prod = vol * sgn  # element-wise: each bar's signed volume once, the same products as per window
    prev = -2
    for r in range(m):
        t = rows[r]
        s = t - p + 1
        if t == prev + 1:
            k = 0
            while order[k] != s - 1:  # the bar leaving the window
                k += 1
            v = tp[t]  # the new bar takes its slot and moves to after every bar of equal price
            while k + 1 < p and tp[order[k + 1]] <= v:
                order[k] = order[k + 1]
                k += 1
            while k > 0 and tp[order[k - 1]] > v:
                order[k] = order[k - 1]
                k -= 1
            order[k] = t
        else:
            for j in range(p):
                v = tp[s + j]
                k = j
                while k > 0 and tp[order[k - 1]] > v:
                    order[k] = order[k - 1]
                    k -= 1
                order[k] = s + j
        prev = t
        acc = 0.0
        for j in range(p):
            acc = vol[order[j]] if j == 0 else acc + vol[order[j]]
            buf[j] = acc
        tot = buf[p - 1]
        start, last = 0, -np.inf
        for c in range(len(qs)):
            lim = qs[c] * tot
            if not lim >= last:  # the first crossing of a lower limit is no later: search from it, else from 0
                start = 0
            last = lim
            hit = -1
            for j in range(start, p):
                if buf[j] >= lim:
                    hit = j
                    break
            start = max(hit, 0)
            out[r, c] = tp[order[max(hit, 0)]] if tot > 0 else np.nan
        vsum[r] = _pairwise_sum(vol, s, p)
        num[r] = _pairwise_sum(prod, s, p)
    return out, vsum, num
