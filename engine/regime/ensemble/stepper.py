"""The ensemble's bar-by-bar state, shared by the live engine and the walk-forward replay so both give
the same verdicts: the model in force, the HMM's forward filter, the models' recent agreement with the
realised rule-based labels (adaptive weighting) and the confidence calibrator's realised outcomes.

Row t sees rows <= t only, and the model in force at t was fitted on rows before it (the caller
guarantees that; walk_forward checks it).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from engine.regime.dynamics import DynamicsConfig, current
from engine.regime.ensemble import vote
from engine.regime.ensemble.calibration import NO_CALIBRATOR, Calibrator, fit_calibrator
from engine.regime.ensemble.config import CalibrationConfig, EnsembleConfig
from engine.regime.ensemble.features import FRAME_COLUMNS, HISTORY_BARS, matrix
from engine.regime.ensemble.models import FittedEnsemble

HMM_WARM_BARS = 200  # rows the HMM filter is re-run over when a new model takes over
AGREEMENT_BARS = 200  # recent bars of agreement behind adaptive weighting


@dataclass(frozen=True, slots=True)
class Resumed:
    """The model a restored state belongs to (engine/regime/ensemble/resume.py) and its HMM filter then (None:
    not stored, warmed on the rows instead): when that model is put in force its agreement and calibrator stay."""
    model_id: int | None
    alpha: np.ndarray | None


class EnsembleStepper:
    def __init__(self, cfg: EnsembleConfig, cal: CalibrationConfig, dyn: DynamicsConfig | None = None) -> None:
        self.cfg, self.cal, self.dyn_cfg = cfg, cal, dyn
        self.model: FittedEnsemble | None = None
        self.model_id: int | None = None
        self.rows: deque[dict[str, Any]] = deque(maxlen=max(HMM_WARM_BARS, HISTORY_BARS))
        self.alpha: np.ndarray | None = None
        self.hits: dict[str, deque[bool]] = {m: deque(maxlen=AGREEMENT_BARS) for m in cfg.weights}
        self.calls: deque[tuple[float, int]] = deque(maxlen=cal.window + cal.horizon_bars + 1)
        self.labels: deque[int] = deque(maxlen=cal.window + cal.horizon_bars + 1)
        self.calibrator: Calibrator = NO_CALIBRATOR
        self.rule_run: tuple[int | None, int] = (None, 0)  # (label, consecutive bars): conflict_resolution
        self.ensemble_run: tuple[int | None, int] = (None, 0)  # (ensemble answer, consecutive bars)
        self.resumed: Resumed | None = None  # set by resume.resume: the state restored from stored verdicts

    def set_model(self, model: FittedEnsemble | None, model_id: int | None = None) -> None:
        """Put a model in force; its HMM filter is warmed on the rows already seen (all before the switch).

        The model a restored state belongs to keeps that state (agreement, calibrator, HMM filter): the engine
        that stored those verdicts never switched models, so it kept them too."""
        resumed, self.resumed = self.resumed, None
        self.model, self.model_id, self.alpha = model, model_id, None
        if model is not None and resumed is not None and resumed.model_id == model_id:
            if resumed.alpha is not None and resumed.alpha.shape == (model.hmm_map.shape[0],):
                self.alpha = resumed.alpha
            else:
                self._warm_filter(model)
            return
        for m in self.hits.values():
            m.clear()
        self._warm_filter(model)
        self._refit_calibrator()

    def _warm_filter(self, model: FittedEnsemble | None) -> None:
        if model is not None and self.rows:
            xs = model.scale(matrix(pd.DataFrame(list(self.rows), columns=FRAME_COLUMNS)))
            for le in model.hmm_log_emission(xs):
                self.alpha = model.hmm_filter(self.alpha, le)

    def _refit_calibrator(self) -> None:
        self.calibrator = calibrator_of(list(self.calls), list(self.labels), self.cal)

    def observe(self, row: dict[str, Any]) -> None:
        """Remember a row without classifying it (warm-up history for features and the HMM filter)."""
        self.rows.append(row)
        self.rule_run = _run(self.rule_run, int(row["label"]))

    def step(self, row: dict[str, Any], xs: np.ndarray | None = None,
             static: dict[str, np.ndarray] | None = None) -> dict[str, Any] | None:
        """Classify one new row (ts, close, trend, vol, raw, adx, label); None while no model is in force.

        ``xs`` (the row's scaled features) and ``static`` (its GMM / forest / boosting probabilities) may be
        precomputed in a batch by walk_forward; they are the same numbers the row alone gives."""
        self.rows.append(row)
        self.rule_run = _run(self.rule_run, int(row["label"]))
        m = self.model
        if m is None:
            return None
        if xs is None or static is None:
            last = list(self.rows)[-HISTORY_BARS:]
            recent = {c: np.array([r[c] for r in last], dtype=float) for c in FRAME_COLUMNS if c != "ts"}
            xs = m.scale(matrix(recent)[-1:])
            static = {k: v[0] for k, v in m.static_proba(xs).items()}
            xs = xs[0]
        self.alpha = m.hmm_filter(self.alpha, m.hmm_log_emission(xs[None, :])[0])
        p = dict(static)
        p["hmm"] = self.alpha @ m.hmm_map
        agreement = {k: (sum(h) / len(h)) for k, h in self.hits.items() if h}
        weights = vote.effective_weights(self.cfg, agreement)
        stacked = None
        if self.cfg.method == "STACKING" and m.meta is not None:
            z = np.hstack([p[k] for k in sorted(p)])[None, :]
            stacked = m._onto_regimes(m.meta.predict_proba(z), m.meta.classes_)[0]
        combined = vote.temper(vote.combine(self.cfg, p, weights, stacked), self.cal.temperature)
        label = int(row["label"])
        v = vote.decide(self.cfg, m.regime_ids, combined, p, weights, label)
        for k, ans in v.votes.items():
            self.hits[k].append(ans == label)
        calibrated = float(self.calibrator.apply(v.confidence, self.cal)[0])
        self.ensemble_run = _run(self.ensemble_run, v.ensemble_regime_id)
        self.calls.append((v.confidence, v.ensemble_regime_id))
        self.labels.append(label)
        if self.cal.real_time:
            self._refit_calibrator()
        dyn = current(self.dyn_cfg, m.dynamics, [int(r["label"]) for r in self.rows]) if self.dyn_cfg else {}
        return {"dynamics": dyn, "status": v.status, "regime_id": v.regime_id, "ensemble_regime_id": v.ensemble_regime_id,
                "confidence": v.confidence, "calibrated_confidence": calibrated, "calibration": self.calibrator.method,
                "disagreement": v.disagreement, "uncertainty": v.uncertainty, "weights": v.weights,
                "votes": v.votes, "reason": v.reason, "model_id": self.model_id,
                "rule_run": self.rule_run[1], "ensemble_run": self.ensemble_run[1],
                "model_data_end": m.data_end.isoformat(),
                "hmm_alpha": [float(a) for a in self.alpha]}  # the filter after this bar: a restart resumes it


def calibrator_of(calls: list[tuple[float, int]], labels: list[int], cal: CalibrationConfig) -> Calibrator:
    """The calibrator fitted on these calls (confidence, answer) and the rule-based labels of the same bars."""
    if not calls:
        return NO_CALIBRATOR
    conf = np.array([c for c, _ in calls])
    call = np.array([r for _, r in calls])
    lab = np.array(labels)
    h = cal.horizon_bars
    out = np.full(len(call), np.nan)
    if len(call) > h:
        out[:-h] = (lab[h:] == call[:-h]).astype(float)
    return fit_calibrator(conf, out, cal)


def _run(run: tuple[int | None, int], value: int) -> tuple[int | None, int]:
    """The run of equal answers extended by one bar (or a new run of 1)."""
    return (value, run[1] + 1) if run[0] == value else (value, 1)
