"""Batch replay shortcuts that must not change a value (issue 12 point 7): the adaptive thresholds' rolling
order statistics, the trend hysteresis alternatives that skip rows needing no second lookup, the
multi-timeframe spread compiled, and the local clock converted once for a replay's whole history.

Oracles: Python's sorted() per window, the live candidate.trend_with_hysteresis, numpy's nanstd, and the
pandas conversion (series._convert) per call.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from engine.params import default_params
from engine.regime import candidate, series
from engine.regime.adaptive_kernel import rolling_ranks
from engine.regime.batch import trend
from engine.regime.batch.vote import column_nanstd
from engine.regime.classifier import RegimeClassifier

PS = default_params()


@pytest.mark.parametrize("seed", range(6))
def test_rolling_ranks_equal_the_sorted_window(seed: int) -> None:
    """Row j: the ranks-th smallest of the w values before it (history of ``pre`` values first), ties included."""
    rng = np.random.default_rng(seed)
    for _ in range(40):
        w, pre, n = int(rng.integers(1, 30)), int(rng.integers(0, 40)), int(rng.integers(1, 120))
        x = rng.integers(0, 6, pre + n).astype(float) if seed % 2 else rng.normal(size=pre + n)
        ranks = np.unique(rng.integers(0, w, 3)).astype(np.int64)
        got = rolling_ranks(x, pre, w, ranks)
        for j in range(n):
            lo = pre + j - w
            for c, r in enumerate(ranks.tolist()):
                want = sorted(x[lo:pre + j].tolist())[r] if lo >= 0 else None
                assert (np.isnan(got[j, c]) if want is None else got[j, c] == want), (w, pre, j, r)


def test_trend_alternatives_equal_the_live_hysteresis() -> None:
    """Every row, every current trend class: the class candidate.trend_with_hysteresis gives (rows already in
    the class, with no hysteresis or nothing to shift now skip the second lookup)."""
    f = RegimeClassifier(PS).formation
    rng = np.random.default_rng(3)
    n = 3000
    edges = np.array([e for t in f.trend for e in (t.lo, t.hi) if np.isfinite(e)])
    t = rng.choice(edges, n) * (1.0 + rng.normal(0.0, 0.08, n)) + rng.normal(0.0, 1e-4, n)
    adx = rng.uniform(0.0, 60.0, n)
    h = rng.choice([0.0, -0.05, 0.02, 0.05, 0.3], n)
    tt = trend.tables(f, {}, n, {})
    band = trend.codes(t, adx, *tt, f.neutral.code)
    got = trend.alternatives(t, adx, h, band, trend.class_edges(f), *tt, f.neutral.code)
    for c in f.trend:
        cur = next(r for r in f.regimes if r.trend_class == c.name)
        for k in range(n):
            want = candidate.trend_with_hysteresis(f, float(t[k]), float(adx[k]), {}, cur, float(h[k]))
            assert got[c.code, k] == want.code, (c.name, k, t[k], adx[k], h[k])


def test_column_nanstd_is_numpys_nanstd_bit_for_bit() -> None:
    rng = np.random.default_rng(5)
    for trial in range(600):
        k, m = int(rng.integers(1, 8)), int(rng.integers(0, 40))
        a = rng.normal(size=(k, m)) * 10.0 ** rng.integers(-8, 8, size=(k, 1))
        if trial % 3 == 0:
            a = np.tanh(a)
        a[rng.random((k, m)) < rng.random() * 0.7] = np.nan
        if trial % 7 == 0:
            a[:] = -0.0
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            want = np.nanstd(a, axis=0)
        got = column_nanstd(np.ascontiguousarray(a))
        assert np.array_equal(got, want, equal_nan=True) and (np.signbit(got) == np.signbit(want)).all(), trial


def test_local_clock_slices_a_whole_history_converted_once() -> None:
    """A replay converts its whole history first; each buffer is then a slice (same values as converting it),
    and the memo keeps the history; bars beyond it are converted and remembered as before."""
    tz = "America/New_York"
    start = np.datetime64("2026-03-06T14:30:00", "ns").astype(np.int64)  # spans the March DST change
    ts = start + np.arange(0, 20_000, dtype=np.int64) * 60_000_000_000
    series._CLOCK_MEMO.pop(tz, None)
    series.local_clock(ts, tz)
    for a, b in ((0, 5000), (2500, 7500), (12_000, 20_000)):
        day, minute = series.local_clock(ts[a:b].copy(), tz)
        want_day, want_minute = series._convert(ts[a:b], tz)
        assert np.array_equal(day, want_day) and np.array_equal(minute, want_minute)
        assert len(series._CLOCK_MEMO[tz][0]) == len(ts)  # not replaced by the buffer
    more = np.concatenate([ts[-10:], ts[-1] + np.arange(1, 4, dtype=np.int64) * 60_000_000_000])
    day, minute = series.local_clock(more, tz)
    want_day, want_minute = series._convert(more, tz)
    assert np.array_equal(day, want_day) and np.array_equal(minute, want_minute)
    assert np.array_equal(series._CLOCK_MEMO[tz][0], more)
