"""Calibrated confidence (ConfidenceCalibration): map a raw confidence to the observed frequency with
which such calls came true, fitted on the newest calibration_window realised outcomes.

An outcome is known horizon_bars after the call: the call "regime r at bar t" came true if the
rule-based classifier's regime at bar t + horizon_bars is r (the call held). Isotonic regression or
Platt scaling (scikit-learn), then the workbook's floor and ceiling.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from engine.regime.ensemble.config import CalibrationConfig

MIN_OUTCOMES = 30  # fewer realised outcomes: confidence passes through (clipped)
MIN_ISOTONIC_LEVELS = 3  # isotonic needs both outcomes and a few distinct confidences, else Platt (if allowed)


@dataclass(frozen=True)
class Calibrator:
    method: str  # isotonic | platt | none
    model: IsotonicRegression | LogisticRegression | None
    n: int

    def apply(self, conf: np.ndarray | float, cfg: CalibrationConfig) -> np.ndarray:
        c = np.atleast_1d(np.asarray(conf, dtype=float))
        if self.method == "isotonic" and self.model is not None:
            c = self.model.predict(c)
        elif self.method == "platt" and self.model is not None:
            c = self.model.predict_proba(_logit(c)[:, None])[:, 1]
        return np.clip(c, cfg.floor, cfg.ceiling)


NO_CALIBRATOR = Calibrator("none", None, 0)


def _logit(c: np.ndarray) -> np.ndarray:
    c = np.clip(c, 1e-4, 1 - 1e-4)
    return np.log(c / (1 - c))


def fit_calibrator(conf: np.ndarray, outcome: np.ndarray, cfg: CalibrationConfig) -> Calibrator:
    """Fit on the newest ``cfg.window`` (confidence, outcome) pairs whose outcome is known (finite)."""
    ok = np.isfinite(conf) & np.isfinite(outcome)
    c, y = conf[ok][-cfg.window:], outcome[ok][-cfg.window:].astype(int)
    if not cfg.enabled or cfg.method in ("NONE", "TEMPERATURE_SCALING") or len(c) < MIN_OUTCOMES \
            or len(np.unique(y)) < 2:
        return NO_CALIBRATOR
    if cfg.method == "ISOTONIC_REGRESSION" and len(np.unique(c)) >= MIN_ISOTONIC_LEVELS:
        return Calibrator("isotonic", IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(c, y), len(c))
    if cfg.method == "PLATT_SCALING" or cfg.platt_fallback:
        return Calibrator("platt", LogisticRegression().fit(_logit(c)[:, None], y), len(c))
    return NO_CALIBRATOR


def outcomes(labels: np.ndarray, calls: np.ndarray, horizon: int) -> np.ndarray:
    """1.0 where the call at t equals the label at t + horizon, 0.0 where not, NaN while unknown."""
    out = np.full(len(calls), np.nan)
    if len(calls) > horizon:
        out[:-horizon] = (labels[horizon:] == calls[:-horizon]).astype(float)
    return out


def brier(p: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((np.asarray(p, dtype=float) - np.asarray(y, dtype=float)) ** 2))


def reliability(conf: np.ndarray, outcome: np.ndarray, cfg: CalibrationConfig) -> pd.DataFrame:
    """Reliability diagram rows: per bin, mean confidence, observed frequency and count. UNIFORM bins
    split [0, 1] evenly, QUANTILE bins hold equal counts, ADAPTIVE = quantile bins merged until each
    holds at least 10 outcomes."""
    ok = np.isfinite(conf) & np.isfinite(outcome)
    c, y = conf[ok], outcome[ok]
    cols = ["conf", "observed", "count"]
    if not len(c):
        return pd.DataFrame(columns=cols)
    if cfg.binning == "UNIFORM":
        edges = np.linspace(0.0, 1.0, cfg.bins + 1)
    else:
        edges = np.unique(np.quantile(c, np.linspace(0, 1, cfg.bins + 1)))
        if cfg.binning == "ADAPTIVE":
            kept = [edges[0]]
            for e in edges[1:]:
                if ((c > kept[-1]) & (c <= e)).sum() >= 10 or e == edges[-1]:
                    kept.append(e)
            edges = np.asarray(kept)
    k = np.clip(np.searchsorted(edges, c, side="left") - 1, 0, max(len(edges) - 2, 0))
    frame = pd.DataFrame({"bin": k, "conf": c, "observed": y})
    g = frame.groupby("bin").agg(conf=("conf", "mean"), observed=("observed", "mean"), count=("conf", "size"))
    return g.reset_index(drop=True)[cols]
