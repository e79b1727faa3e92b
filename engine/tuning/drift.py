"""Concept drift on the engine's own features: river's ADWIN per feature, gated by the workbook's threshold.

Why ADWIN: it needs no window length to be guessed and gives a change point with a statistical bound.
Why a gate: on minute bars ADWIN also finds tiny, harmless mean shifts; AdaptiveLearning drift_threshold
is the smallest shift that counts, measured as |mean after − mean before| divided by the feature's
standard deviation before the change, times DRIFT_SCALE (0.15 -> 1.5 sd). A feature needs at least
MIN_SEGMENT observations on each side of the change point.
Why a second gate, on significance with autocorrelation counted: ADWIN and the size gate assume independent
values, but the engine's features are smoothed (lag-1 autocorrelation 0.93-0.998), and a stationary AR(1)
series wanders far from its mean for hundreds of bars: with phi 0.98 more than half the windows "drifted".
So the mean difference must also be Z_GATE standard errors of itself, the standard error taken from an AR(1)
fit to the values around their own segment's mean (phi bias-corrected, innovations' sd sigma_e):
se = sigma_e / (1 - phi) * sqrt(1/n_before + 1/n_after), the long-run spread of a mean of n values;
and each side must hold MIN_EFFECTIVE effective observations, n (1 - phi) / (1 + phi), because a phi
estimated from fewer than a handful of independent stretches cannot tell a shift from the slow wander.
Independent values give phi ~0 and the gate then is a plain two-sample z test.
Where the change is: ADWIN's cut is bucket-granular and often hundreds of bars before the change; a cut too
early leaves the step inside "after", where it looks like autocorrelation. The cut is therefore the split
of ADWIN's window (oldest kept value to the newest) that maximises sqrt(n_b n_a) |mean after - mean before|,
the least-squares single change point.
The detection is a pure function of the series (replayed from the start of the window every time), so
the job is deterministic and a restart loses nothing.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from river.drift import ADWIN

from engine.params.paramset import ParamSet
from engine.params.typed import Parameters

MIN_SEGMENT = 30  # observations needed before and after a change point
ADWIN_DELTA = 0.002  # river's default confidence; the workbook threshold gates the size of the shift
CONSTANT_SHIFT = 1e6  # a shift this many sds means the reference data had no real spread
DRIFT_SCALE = 10.0  # drift_threshold 0.15 -> a shift of 1.5 standard deviations of the reference data
Z_GATE = 4.0  # the mean difference in its own standard errors, autocorrelation counted (see the docstring)
MIN_EFFECTIVE = 5.0  # effective (independent) observations needed on each side of the change point
MAX_PHI = 0.999  # a unit root would make the standard error infinite


@dataclass(frozen=True)
class DriftConfig:
    """AdaptiveLearning's drift settings (and the memory window the detector looks back over)."""

    enabled: bool
    threshold: float  # in units of the reference standard deviation, after DRIFT_SCALE
    trigger: str  # PERFORMANCE_BASED | SCHEDULED | DRIFT_BASED
    window: int  # snapshots looked at

    @classmethod
    def of(cls, ps: ParamSet) -> DriftConfig:
        al = Parameters(ps).adaptive_learning
        enabled = al.adaptive_enabled and al.drift_detection
        return cls(enabled, al.drift_threshold * DRIFT_SCALE, al.retraining_trigger, al.memory_window)


@dataclass(frozen=True)
class DriftFinding:
    """One feature whose mean moved: where (index into the series), by how much (in reference sds)."""

    feature: str
    index: int
    shift: float
    before: float
    after: float

    def text(self) -> str:
        size = (f"{self.shift:.2f} sd of the earlier data" if self.shift < CONSTANT_SHIFT
                else "the earlier data were constant")  # a spread of float residue: millions of sds say nothing
        return f"{self.feature}: mean {self.before:.4g} -> {self.after:.4g} ({size}) at observation {self.index}"


def detect(name: str, values: np.ndarray, threshold: float) -> DriftFinding | None:
    """The largest ADWIN change point in `values` whose shift is at least `threshold` sds; None if none."""
    raw = np.asarray(values, dtype=float)
    keep = np.flatnonzero(np.isfinite(raw))  # the index reported is into `values`, gaps included
    x = raw[keep]
    if len(x) < 2 * MIN_SEGMENT:
        return None
    adwin = ADWIN(delta=ADWIN_DELTA)
    best: DriftFinding | None = None
    for i, v in enumerate(x):
        adwin.update(float(v))
        if not adwin.drift_detected:
            continue
        cut = _change_point(x, i + 1 - int(adwin.width), i + 1)
        before, after = x[:cut], x[cut:]  # the new level judged on everything seen since the change
        if len(before) < MIN_SEGMENT or len(after) < MIN_SEGMENT:
            continue
        sd = float(np.std(before)) or 1e-12
        shift = abs(float(np.mean(after)) - float(np.mean(before))) / sd
        if shift >= threshold and (best is None or shift > best.shift) and _significant(before, after):
            best = DriftFinding(name, int(keep[cut]), shift, float(np.mean(before)), float(np.mean(after)))
    return best


def _change_point(x: np.ndarray, lo: int, hi: int) -> int:
    """The split in [lo, hi) maximising sqrt(n_b n_a) |mean difference| (MIN_SEGMENT kept on both sides)."""
    n = len(x)
    lo, hi = max(lo, MIN_SEGMENT), min(hi, n - MIN_SEGMENT + 1)
    if hi <= lo:
        return lo
    c = np.arange(lo, hi)
    total = np.cumsum(x)
    head = total[c - 1]
    stat = np.sqrt(c * (n - c)) * np.abs((total[-1] - head) / (n - c) - head / c)
    return int(c[int(np.argmax(stat))])


def _significant(before: np.ndarray, after: np.ndarray) -> bool:
    """The shift is Z_GATE standard errors with autocorrelation counted, on MIN_EFFECTIVE values a side."""
    resid = [seg - float(np.mean(seg)) for seg in (before, after)]
    lag0 = sum(float(r @ r) for r in resid)
    if lag0 <= 0.0:
        return True  # both sides constant: any difference is certain (the text says the data were constant)
    n = len(before) + len(after)
    phi = sum(float(r[1:] @ r[:-1]) for r in resid) / lag0
    phi = min(max(phi + 2.0 * (1.0 + 3.0 * phi) / n, 0.0), MAX_PHI)  # Kendall's bias, two de-meaned segments
    if min(len(before), len(after)) * (1.0 - phi) / (1.0 + phi) < MIN_EFFECTIVE:
        return False
    innov = np.concatenate([r[1:] - phi * r[:-1] for r in resid])
    se = math.sqrt(float(innov @ innov) / len(innov)) / (1.0 - phi) * math.sqrt(1 / len(before) + 1 / len(after))
    diff = abs(float(np.mean(after)) - float(np.mean(before)))
    return diff >= Z_GATE * se


def detect_all(features: dict[str, np.ndarray], threshold: float) -> list[DriftFinding]:
    """Every feature that drifted, largest shift first."""
    found = [f for name, v in features.items() if (f := detect(name, v, threshold)) is not None]
    return sorted(found, key=lambda f: (-f.shift if math.isfinite(f.shift) else 0.0, f.feature))
