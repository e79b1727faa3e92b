"""Concept drift on the engine's own features: river's ADWIN per feature, gated by the workbook's threshold.

Why ADWIN: it needs no window length to be guessed and gives a change point with a statistical bound.
Why a gate: on minute bars ADWIN also finds tiny, harmless mean shifts; AdaptiveLearning drift_threshold
is the smallest shift that counts, measured as |mean after − mean before| divided by the feature's
standard deviation before the change, times DRIFT_SCALE (0.15 -> 1.5 sd). A feature needs at least
MIN_SEGMENT observations on each side of the change point.
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
        cut = i + 1 - int(adwin.width)  # ADWIN keeps the newest `width` values: the change is before them
        before, after = x[:cut], x[cut:]  # the new level judged on everything seen since the change
        if len(before) < MIN_SEGMENT or len(after) < MIN_SEGMENT:
            continue
        sd = float(np.std(before)) or 1e-12
        shift = abs(float(np.mean(after)) - float(np.mean(before))) / sd
        if shift >= threshold and (best is None or shift > best.shift):
            best = DriftFinding(name, int(keep[cut]), shift, float(np.mean(before)), float(np.mean(after)))
    return best


def detect_all(features: dict[str, np.ndarray], threshold: float) -> list[DriftFinding]:
    """Every feature that drifted, largest shift first."""
    found = [f for name, v in features.items() if (f := detect(name, v, threshold)) is not None]
    return sorted(found, key=lambda f: (-f.shift if math.isfinite(f.shift) else 0.0, f.feature))
