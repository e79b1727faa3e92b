"""The Regime page's reliability diagram: how often the stored confidence came true, before and after the
workbook's calibration (ConfidenceCalibration), measured out of sample.

A call "regime r at bar t with confidence c" came true when the stored regime horizon_bars later is still r
(engine.regime.ensemble.calibration.outcomes). The known outcomes are split in two at bar `split` (the middle
one): the calibrator is fitted only on the calls whose outcome was realised before it (t + horizon < split), and
judged on every call whose outcome was realised at or after it (t + horizon >= split), so the diagram shows
what calibration does on outcomes it did not see. Why on the outcome's bar and not the call's: a call at
t < split is judged by the regime at t + horizon, which may lie past the split; fitting on it would let the
test period's regimes shape the calibrator (the earlier split at t < split did).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from engine.params import ParamSet
from engine.regime.ensemble.calibration import brier, fit_calibrator, outcomes, reliability
from engine.regime.ensemble.config import CalibrationConfig

MIN_ROWS = 60


def reliability_report(hist: pd.DataFrame, params: ParamSet) -> dict[str, Any] | None:
    """{raw, calibrated: reliability frames, brier_raw, brier_calibrated, method, n_fit, n_test} or None."""
    if len(hist) < MIN_ROWS:
        return None
    cfg = CalibrationConfig.of(params)
    conf = hist["confidence"].to_numpy(dtype=float)
    labels = hist["regime_id"].to_numpy()
    hit = outcomes(labels, labels, cfg.horizon_bars)
    known = np.flatnonzero(np.isfinite(hit) & np.isfinite(conf))  # a NaN confidence (PostgreSQL keeps one): no call
    if len(known) < MIN_ROWS:
        return None
    split = known[len(known) // 2]
    realised = known + cfg.horizon_bars  # the bar whose regime decides each known call
    fit_idx, test_idx = known[realised < split], known[realised >= split]
    cal = fit_calibrator(conf[fit_idx], hit[fit_idx], cfg)
    calibrated = cal.apply(conf[test_idx], cfg)
    return {"raw": reliability(conf[test_idx], hit[test_idx], cfg),
            "calibrated": reliability(calibrated, hit[test_idx], cfg),
            "brier_raw": brier(conf[test_idx], hit[test_idx]), "brier_calibrated": brier(calibrated, hit[test_idx]),
            "method": cal.method, "n_fit": int(len(fit_idx)), "n_test": int(len(test_idx)),
            "horizon": cfg.horizon_bars}
