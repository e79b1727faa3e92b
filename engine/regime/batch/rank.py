"""series.rolling_rank_pct for long row sets, compiled (numba, cached on disk after the first compile).

Why: the numpy version compares every row with its whole window (rows x lookback work, ~2 ms per
2,500 rows at lookback 252) and runs once per replay chunk. Here the window's finite values are kept
sorted while it slides, so each row costs one insertion and one removal (done as one move), its
count read off where the new value lands. The answer is the same integer counts, so the same floats:
100 * (values <= x[t]) / (finite values).
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _lower(buf: np.ndarray, cnt: int, v: float) -> int:
    lo, hi = 0, cnt
    while lo < hi:
        mid = (lo + hi) // 2
        if buf[mid] < v:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True)
def _upper(buf: np.ndarray, cnt: int, v: float) -> int:
    lo, hi = 0, cnt
    while lo < hi:
        mid = (lo + hi) // 2
        if buf[mid] <= v:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True)
def _insert(buf: np.ndarray, cnt: int, v: float) -> int:
    p = _upper(buf, cnt, v)
    for j in range(cnt, p, -1):
        buf[j] = buf[j - 1]
    buf[p] = v
    return cnt + 1


@njit(cache=True)
def _remove(buf: np.ndarray, cnt: int, v: float) -> int:
    p = _lower(buf, cnt, v)  # values that compare equal are interchangeable for every later count
    for j in range(p, cnt - 1):
        buf[j] = buf[j + 1]
    return cnt - 1


@njit(cache=True)
def _replace(buf: np.ndarray, cnt: int, old: float, new: float) -> int:
    """_remove(old) then _insert(new) in one pass: only the values between the two positions move (the
    order among equal values may differ from the two-step version; no count depends on it). Returns
    _upper(buf, cnt, new) afterwards, read off the final position (values before it are <= new, after
    it >= new, or > new when new moved down) instead of a second binary search."""
    p = _lower(buf, cnt, old)
    if new >= old:
        while p + 1 < cnt and buf[p + 1] < new:
            buf[p] = buf[p + 1]
            p += 1
        buf[p] = new
        p += 1
        while p < cnt and buf[p] == new:  # values equal to new after it count as <= new
            p += 1
        return p
    while p > 0 and buf[p - 1] > new:
        buf[p] = buf[p - 1]
        p -= 1
    buf[p] = new
    return p + 1


@njit(cache=True)
def rank_pct(x: np.ndarray, lookback: int, rows: np.ndarray) -> np.ndarray:
    """Percentile rank (0-100) of x[t] among the finite values of x[t-lookback+1 .. t], for t in rows."""
    m = len(rows)
    out = np.full(m, np.nan)
    if m == 0 or lookback <= 0:
        return out
    buf = np.empty(lookback)
    cnt = 0
    prev = -2
    for k in range(m):
        t = rows[k]
        if t == prev + 1:  # slide by one bar
            old = t - lookback
            if old >= 0 and np.isfinite(x[old]) and np.isfinite(x[t]):
                up = _replace(buf, cnt, x[old], x[t])
                if cnt > 1:
                    out[k] = 100.0 * up / max(cnt, 1)
                prev = t
                continue
            if old >= 0 and np.isfinite(x[old]):
                cnt = _remove(buf, cnt, x[old])
            if np.isfinite(x[t]):
                cnt = _insert(buf, cnt, x[t])
        else:  # the first row (or a jump): build the window afresh
            cnt = 0
            for j in range(max(0, t - lookback + 1), t + 1):
                if np.isfinite(x[j]):
                    cnt = _insert(buf, cnt, x[j])
        prev = t
        cur = x[t]
        if np.isfinite(cur) and cnt > 1:
            out[k] = 100.0 * _upper(buf, cnt, cur) / max(cnt, 1)
    return out
