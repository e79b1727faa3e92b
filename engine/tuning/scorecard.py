"""The PerformanceMetrics scorecard: each workbook metric measured on a detected history, graded against
its target / acceptable / critical levels, and weighted into one overall score.

Input: one row per bar (oldest first) with timestamp, regime_name, trend ("up"/"down"/"sideways"),
vol ("low"/"medium"/"high"), transition (bool), confidence, close; optionally the realised regime path
(true_trend, true_vol columns: the simulated market's truth). Metrics needing the truth are "not measured"
without it (a live broker feed has no true regime path), and so are metrics whose input is missing.
Definitions (window W = RESPONSE_BARS bars):
- regime_accuracy: share of bars whose trend and volatility labels both equal the truth's;
- transition_timing: share of true regime changes followed by a detected transition within W bars;
- false_positive_rate: share of detected transitions with no true change within W bars before them;
- response_time: mean minutes from a true change to the first detected transition within W (misses: W);
- direction_accuracy: share of up/down bars whose sign matches the realised return over the next W bars;
- regime_persistence: share of bars without a transition; noise_rejection: share of detected regimes
  that lasted at least NOISE_BARS bars; daily_transitions: transitions per calendar day with bars;
- regime_diversity: distinct regimes seen / regimes configured; prediction_confidence: mean confidence;
- computation_time (ms per update) and memory_usage (MB) come from the caller (the engine's job runs).
Units (UNITS): response_time in minutes, computation_time in milliseconds per update, memory_usage in MB,
daily_transitions in transitions per day; the shares and prediction_confidence are fractions 0..1.
Grade of a one-sided metric: 1 at or beyond target, 0 at or beyond critical, linear between (either
direction: a metric whose target is below its critical level is "lower is better").
Grade of a band metric (BAND_METRICS: daily_transitions, where too many transitions are as bad as too few)
by its distance d = |value - target| from the target, equally on both sides: with the acceptable distance
A = |target - acceptable| and the critical distance C = |target - critical|, the grade is 1 for d <= A (inside
the band target ± A, the engine's own transitions_band), 0 for d >= C, and (C - d) / (C - A) between.
Its status is "target" inside the band, "outside acceptable" for A < d < C and "critical" for d >= C, with
the reason saying on which side ("above the band 1.5–3.5"). E.g. with target 2.5, acceptable 1.5,
critical 0.5 (A = 1, C = 2): 2.5 -> 1 target; 4 and 1 -> 0.5 outside acceptable; 6 -> 0 critical.
Overall = Σ weight·grade / Σ weight of the metrics measured.
"""
from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.params.paramset import ParamSet
from engine.params.typed import Parameters

RESPONSE_BARS = 15
NOISE_BARS = 5
BAND_METRICS = frozenset({"daily_transitions"})  # graded by distance from the target, on both sides
UNITS = {"response_time": "min", "computation_time": "ms", "memory_usage": "MB", "daily_transitions": "per day"}


@dataclass(frozen=True)
class MetricScore:
    metric: str
    value: float | None  # None: not measured (reason says why)
    target: float
    acceptable: float
    critical: float
    weight: float
    grade: float | None
    status: str  # target | acceptable | below acceptable | outside acceptable (band) | critical | not measured
    reason: str = ""
    band: bool = False  # graded by distance from the target on both sides (band_grade / band_status)
    unit: str = ""  # UNITS; "" for fractions 0..1


@dataclass(frozen=True)
class Scorecard:
    metrics: tuple[MetricScore, ...]
    overall: float | None

    def value(self, metric: str) -> float | None:
        return next((m.value for m in self.metrics if m.metric == metric), None)

    def overall_over(self, metrics: Collection[str]) -> float | None:
        """The overall score weighted over `metrics` alone (two histories scored on what both measured)."""
        scored = [m for m in self.metrics if m.metric in metrics and m.grade is not None and m.weight > 0]
        total = sum(m.weight for m in scored)
        return sum(m.weight * (m.grade or 0.0) for m in scored) / total if total else None

    def rows(self) -> list[dict[str, object]]:
        return [m.__dict__ for m in self.metrics]


def _true_changes(h: pd.DataFrame) -> np.ndarray:
    t = (h["true_trend"].astype(str) + "/" + h["true_vol"].astype(str)).to_numpy()
    return np.flatnonzero(t[1:] != t[:-1]) + 1


def truth_metrics(h: pd.DataFrame, bar_minutes: float) -> dict[str, float]:
    """Metrics against the realised regime path (columns true_trend, true_vol)."""
    out: dict[str, float] = {}
    out["regime_accuracy"] = float(((h["trend"] == h["true_trend"]) & (h["vol"] == h["true_vol"])).mean())
    changes, det = _true_changes(h), np.flatnonzero(h["transition"].to_numpy(dtype=bool))
    if len(changes):
        lags = [next((d - c for d in det if 0 <= d - c <= RESPONSE_BARS), None) for c in changes]
        out["transition_timing"] = sum(lag is not None for lag in lags) / len(changes)
        out["response_time"] = float(np.mean([RESPONSE_BARS if lag is None else lag for lag in lags])) * bar_minutes
    if len(det):
        out["false_positive_rate"] = sum(not any(0 <= d - c <= RESPONSE_BARS for c in changes) for d in det) / len(det)
    return out


def history_metrics(h: pd.DataFrame, n_regimes: int) -> dict[str, float]:
    """Metrics of the detected history alone (and its realised returns)."""
    out: dict[str, float] = {}
    tr = h["transition"].to_numpy(dtype=bool)
    out["regime_persistence"] = float(1.0 - tr.mean())
    runs = (h["regime_name"] != h["regime_name"].shift()).cumsum()
    lengths = h.groupby(runs).size().to_numpy()
    out["noise_rejection"] = float((lengths >= NOISE_BARS).mean())
    days = pd.to_datetime(h["timestamp"]).dt.date.nunique()
    out["daily_transitions"] = float(tr.sum() / days) if days else math.nan
    out["regime_diversity"] = h["regime_name"].nunique() / n_regimes if n_regimes else math.nan
    out["prediction_confidence"] = float(h["confidence"].mean())
    close = h["close"].to_numpy(dtype=float)
    fwd = np.full(len(close), np.nan)
    fwd[:-RESPONSE_BARS] = close[RESPONSE_BARS:] / close[:-RESPONSE_BARS] - 1.0
    sign = h["trend"].map({"up": 1.0, "down": -1.0}).to_numpy(dtype=float)
    ok = np.isfinite(sign) & np.isfinite(fwd) & (fwd != 0)
    if ok.any():
        out["direction_accuracy"] = float((np.sign(fwd[ok]) == sign[ok]).mean())
    return out


def grade(value: float, target: float, critical: float) -> float:
    """1 at or beyond target, 0 at or beyond critical, linear between."""
    if target == critical:
        return 1.0 if value >= target else 0.0
    return float(min(1.0, max(0.0, (value - critical) / (target - critical))))


def band_grade(value: float, target: float, acceptable: float, critical: float) -> float:
    """1 within the acceptable distance A = |target - acceptable| of the target, 0 at or beyond the critical
    distance C = |target - critical|, linear between; the same on both sides of the target."""
    d, a, c = abs(value - target), abs(target - acceptable), abs(target - critical)
    if d <= a:
        return 1.0
    if c <= a or d >= c:
        return 0.0
    return float((c - d) / (c - a))


def band_status(value: float, target: float, acceptable: float, critical: float) -> tuple[str, str]:
    """(status, reason) of a band metric: target inside target ± A, outside acceptable up to C, else critical."""
    d, a, c = abs(value - target), abs(target - acceptable), abs(target - critical)
    if d <= a:
        return "target", ""
    side = "above" if value > target else "below"
    band = f"{side} the band {target - a:g}–{target + a:g}"
    return ("critical" if d >= c else "outside acceptable"), band


def status(value: float, target: float, acceptable: float, critical: float) -> str:
    better = (lambda a, b: a >= b) if target >= critical else (lambda a, b: a <= b)
    if better(value, target):
        return "target"
    if better(value, acceptable):
        return "acceptable"
    return "below acceptable" if not better(critical, value) else "critical"


def scorecard(ps: ParamSet, h: pd.DataFrame, *, bar_minutes: float = 1.0, computation_ms: float | None = None,
              memory_mb: float | None = None) -> Scorecard:
    """The workbook's PerformanceMetrics rows measured on history `h` (see the module docstring)."""
    p = Parameters(ps)
    measured: dict[str, float] = {}
    if len(h):
        measured.update(history_metrics(h, len(p.regime_parameters.rows)))
        if {"true_trend", "true_vol"} <= set(h.columns):
            measured.update(truth_metrics(h, bar_minutes))
    if computation_ms is not None:
        measured["computation_time"] = computation_ms
    if memory_mb is not None:
        measured["memory_usage"] = memory_mb
    out = []
    for row in p.performance_metrics.rows:
        name, t, a, c, w = row.metric, row.target, row.acceptable, row.critical, row.weight
        v = measured.get(name)
        if v is None or not math.isfinite(v):
            why = "needs the realised regime path" if name in _TRUTH else "no data for it yet"
            out.append(MetricScore(name, None, t, a, c, w, None, "not measured", why, name in BAND_METRICS,
                                   UNITS.get(name, "")))
            continue
        if name in BAND_METRICS:
            st, side = band_status(v, t, a, c)
            out.append(MetricScore(name, float(v), t, a, c, w, band_grade(v, t, a, c), st, side, True,
                                   UNITS.get(name, "")))
            continue
        out.append(MetricScore(name, float(v), t, a, c, w, grade(v, t, c), status(v, t, a, c),
                               unit=UNITS.get(name, "")))
    scored = [m for m in out if m.grade is not None and m.weight > 0]
    total = sum(m.weight for m in scored)
    overall = sum(m.weight * (m.grade or 0.0) for m in scored) / total if total else None
    return Scorecard(tuple(out), overall)


_TRUTH = {"regime_accuracy", "transition_timing", "false_positive_rate", "response_time"}
