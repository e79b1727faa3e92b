"""Adaptive class thresholds (StabilityConfiguration enable_adaptive_thresholds, learning_rate,
adaptation_window): the volatility and trend class boundaries follow the instrument's own trailing
history, so a sharp stress episode after a calm stretch reads High volatility within days, and a calm
year on a calm instrument does not.

Rule (per classified bar, deterministic: only values of earlier bars enter; a replay, and a replay
cut anywhere, give the same thresholds up to the cut):
- Volatility. For each inner boundary a_k of RegimeClassification volatility_thresholds (the MaxValue
  of every class but the last; annualised volatility) the percentile p_k is the upper end of that
  class's ATR_Percentile range ("0-30" -> 30; evenly spaced when a range is missing). q_k = the p_k-th
  order statistic (nearest rank) of the last ``adaptation_window`` smoothed components V before the
  bar. Target b*_k = (1 - BLEND) a_k + BLEND q_k (blend of workbook and instrument), bounded to
  [a_k / VOL_BOUND, a_k * VOL_BOUND]. The boundary in force moves towards its target by
  ``learning_rate`` per bar: b_k <- b_k + learning_rate * (b*_k - b_k), starting at a_k; until the
  window holds ``adaptation_window`` values nothing moves.
- Trend. One scale s for every slope boundary (MinSlope/MaxSlope; log-price slope per bar): target
  s* = (1 - BLEND) + BLEND m / slope_scale bounded to [1 / TREND_BOUND, TREND_BOUND], where m is the
  TREND_DISPERSION_PCT-th order statistic of |T| over the same window and slope_scale the smallest
  slope boundary (0.003); s moves towards s* at ``learning_rate`` per bar, starting at 1.
- Order: targets are increasing in a_k and q_k (q_1 <= q_2), so are their bounds, and each update is a
  convex step from ordered values: b_1 < b_2 < ... always; every b_k stays within its bounds.
- Arithmetic only (+, *, min, max; no pow): the batch path's compiled loops (adaptive_kernel.py) give
  the same floats as the bar-by-bar Python.
How the classes use them: the bar's components are mapped onto the workbook's scale (T / s; V by the
piecewise-linear map sending b_k to a_k, proportional below b_1 and above b_K), then classified with
the workbook tables by the unchanged formation, hysteresis and evidence code; the snapshot's
``modules.classes`` records the number, the thresholds in force and the margins in the number's own
units. With enable_adaptive_thresholds FALSE the components are classified as they are.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from engine.params.paramset import ParamSet
from engine.params.typed import Parameters
from engine.regime.formation import Formation

BLEND = 0.7  # weight of the instrument's own percentile against the workbook boundary (arithmetic blend)
VOL_BOUND = 2.0  # an adapted volatility boundary stays within [a / 2, 2 a]
TREND_BOUND = 2.0  # the trend scale stays within [1/2, 2]
TREND_DISPERSION_PCT = 50.0  # |T| percentile taken as the instrument's typical slope


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The class thresholds in force at one bar: raw-scale volatility boundaries and the trend scale."""

    vol_edges: tuple[float, ...]  # b_k, annualised volatility
    abs_edges: tuple[float, ...]  # a_k, the workbook's
    trend_scale: float
    adaptive: bool

    def vol_value(self, v: float) -> float:
        """V on the workbook's scale (the class of the result under the workbook table = class of V under b)."""
        if not self.adaptive or not math.isfinite(v):
            return v
        return _map_scalar(v, self.vol_edges, self.abs_edges)

    def vol_raw(self, x: float) -> float:
        """Inverse of vol_value: a workbook-scale number back in V's units."""
        if not self.adaptive or not math.isfinite(x):
            return x
        return _map_scalar(x, self.abs_edges, self.vol_edges)

    def trend_value(self, t: float) -> float:
        return t / self.trend_scale if self.adaptive else t

    def as_dict(self) -> dict[str, object]:
        return {"adaptive": self.adaptive, "vol_edges": list(self.vol_edges), "workbook_vol_edges": list(self.abs_edges),
                "trend_scale": self.trend_scale}


def _map_scalar(v: float, src: tuple[float, ...], dst: tuple[float, ...]) -> float:
    """Piecewise-linear map sending src[k] to dst[k]; proportional below the first and above the last knot.
    The same operations, in the same order, as ``map_vol`` (bit-identical floats)."""
    if v <= src[0]:
        return v * (dst[0] / src[0])
    for k in range(1, len(src)):
        if v <= src[k]:
            return dst[k - 1] + (v - src[k - 1]) * ((dst[k] - dst[k - 1]) / (src[k] - src[k - 1]))
    return v * (dst[-1] / src[-1])


def map_vol(v: np.ndarray, edges: np.ndarray, abs_edges: tuple[float, ...]) -> np.ndarray:
    """Thresholds.vol_value per row; ``edges`` is (rows, K)."""
    a = abs_edges
    with np.errstate(invalid="ignore", divide="ignore"):
        out = v * (a[-1] / edges[:, -1])
        for k in range(len(a) - 1, 0, -1):
            seg = a[k - 1] + (v - edges[:, k - 1]) * ((a[k] - a[k - 1]) / (edges[:, k] - edges[:, k - 1]))
            out = np.where(v <= edges[:, k], seg, out)
        out = np.where(v <= edges[:, 0], v * (a[0] / edges[:, 0]), out)
    return np.where(np.isfinite(v), out, v)


class AdaptiveThresholds:
    """The adaptive state of one classifier: trailing components and the thresholds in force."""

    def __init__(self, ps: ParamSet, f: Formation) -> None:
        s = Parameters(ps).stability_configuration
        self.enabled = bool(s.enable_adaptive_thresholds) and len(f.vol) >= 2 and f.vol[0].hi > 0
        self.rate = min(max(float(s.learning_rate), 0.0), 1.0)
        self.window = max(1, int(s.adaptation_window))
        self.abs_edges = tuple(v.hi for v in f.vol[:-1])
        pcts = []
        for k, (rng, _band) in enumerate(f.vol_pct[:-1]):
            pcts.append(rng[1] if rng is not None else 100.0 * (k + 1) / len(f.vol))
        self.ranks = tuple(_rank(p, self.window) for p in pcts)
        self.trend_rank = _rank(TREND_DISPERSION_PCT, self.window)
        self.slope_scale = f.slope_scale
        # target = clip(keep_k + BLEND * q, lo_k, hi_k); the same constants in step and series
        self._keep = tuple((1.0 - BLEND) * a for a in self.abs_edges) + (1.0 - BLEND,)
        self._lo = tuple(a / VOL_BOUND for a in self.abs_edges) + (1.0 / TREND_BOUND,)
        self._hi = tuple(a * VOL_BOUND for a in self.abs_edges) + (TREND_BOUND,)
        self.hist_v: deque[float] = deque(maxlen=self.window)
        self.hist_t: deque[float] = deque(maxlen=self.window)  # |T|
        self.state = [*self.abs_edges, 1.0]  # volatility boundaries, then the trend scale
        self._fixed = Thresholds(self.abs_edges, self.abs_edges, 1.0, False)

    def step(self, t: float, v: float) -> Thresholds:
        """Thresholds in force at this bar (from earlier bars), then this bar's components join the history."""
        if not self.enabled:
            return self._fixed
        if len(self.hist_v) == self.window:
            sv = np.sort(np.fromiter(self.hist_v, np.float64, self.window))
            st = np.sort(np.fromiter(self.hist_t, np.float64, self.window))
            q = [float(sv[r]) for r in self.ranks] + [float(st[self.trend_rank]) / self.slope_scale]
            for c, x in enumerate(q):
                tgt = min(max(self._keep[c] + BLEND * x, self._lo[c]), self._hi[c])
                self.state[c] = self.state[c] + self.rate * (tgt - self.state[c])
        out = Thresholds(tuple(self.state[:-1]), self.abs_edges, self.state[-1], True)
        if math.isfinite(v) and math.isfinite(t):
            self.hist_v.append(v)
            self.hist_t.append(abs(t))
        return out

    def series(self, t: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``step`` for every row (same floats): (raw volatility boundaries (rows, K), trend scales)."""
        n, k = len(v), len(self.abs_edges)
        if not self.enabled:
            return np.tile(np.asarray(self.abs_edges), (n, 1)), np.ones(n)
        ok = np.isfinite(v) & np.isfinite(t)
        if not ok.all():  # rare (non-finite components): the scalar path row by row
            edges, scales = np.empty((n, k)), np.empty(n)
            for j in range(n):
                th = self.step(float(t[j]), float(v[j]))
                edges[j], scales[j] = th.vol_edges, th.trend_scale
            return edges, scales
        # local import: heavy (numba compiles on first use), not with every classifier
        from engine.regime.adaptive_kernel import learn, rolling_ranks
        w, pre = self.window, len(self.hist_v)
        pv = np.concatenate([np.fromiter(self.hist_v, np.float64, pre), v])
        pt = np.concatenate([np.fromiter(self.hist_t, np.float64, pre), np.abs(t)])
        q = np.empty((n, k + 1))
        q[:, :k] = rolling_ranks(pv, pre, w, np.asarray(self.ranks, np.int64))
        q[:, k] = rolling_ranks(pt, pre, w, np.asarray([self.trend_rank], np.int64))[:, 0] / self.slope_scale
        keep, lo, hi = (np.asarray(x) for x in (self._keep, self._lo, self._hi))
        tgt = np.minimum(np.maximum(keep + BLEND * q, lo), hi)
        state = np.asarray(self.state, np.float64)
        out = learn(np.where(np.isnan(q), 0.0, tgt), ~np.isnan(q[:, 0]), state, self.rate)
        self.state = state.tolist()
        self.hist_v.extend(v[-w:].tolist())
        self.hist_t.extend(np.abs(t[-w:]).tolist())
        return out[:, :k], out[:, k]


def _rank(pct: float, window: int) -> int:
    """Index of the pct-th order statistic in a sorted window (nearest rank, no interpolation)."""
    return min(max(int(math.floor(pct / 100.0 * (window - 1) + 0.5)), 0), window - 1)
