"""MultiTimeframeModule's per-timeframe accumulation, written once: run as plain Python on the live path's few
new rows, and compiled by numba for replays and rebuilds (engine/regime/batch/vote.py compiles this very
function), so both give the same floats by construction.

Why a module of its own: it must not import numba (the live classifier stays numba-free until a long row set
needs the compiled version), and numba compiles only code it can type (no lists, no Python objects).
"""
from __future__ import annotations

import math

import numpy as np


def add_timeframe(d: np.ndarray, slope: np.ndarray, sd: np.ndarray, rows: np.ndarray, required: int, w: float,
                  min_cons: float, ref_bars: float, wsum: np.ndarray, dsum: np.ndarray, ssum: np.ndarray,
                  vote: np.ndarray, count: np.ndarray, agree_up: np.ndarray, agree_dn: np.ndarray) -> np.ndarray:
    """Adds one timeframe's reading (direction d, slope, return sd per row) to the sums in place; returns
    its direction where it counts, NaN elsewhere (the module's ``tf_<label>`` array)."""
    m = len(d)
    per = np.empty(m)
    for k in range(m):
        x = d[k]
        ok = math.isfinite(x) and rows[k] + 1 >= required and sd[k] > 0
        d0 = x if ok else 0.0
        wt = w if ok else 0.0
        wsum[k] += wt
        dsum[k] += wt * d0
        ssum[k] += wt * (slope[k] if ok else 0.0) * ref_bars
        votes = ok and abs(d0) >= min_cons
        sign = 1.0 if d0 > 0 else -1.0 if d0 < 0 else 0.0  # np.sign of a finite value
        vote[k] += w * sign if votes else 0.0
        agree_up[k] += 1.0 if votes and d0 > 0 else 0.0
        agree_dn[k] += 1.0 if votes and d0 < 0 else 0.0
        count[k] += 1.0 if ok else 0.0
        per[k] = d0 if ok else np.nan
    return per
