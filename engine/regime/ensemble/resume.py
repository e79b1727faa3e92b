"""Rebuilding the ensemble stepper's learned state from the verdicts the engine already stored in its regime
snapshots, so a restart (or a rebuilt regime stage) goes on exactly as an engine that never stopped would:
the calibrator's realised calls, the models' recent agreement (adaptive weighting), the HMM filter and the
runs of equal answers. Before, a restart dropped them: calibrated confidence fell to the floor and the weights
to the workbook's until the windows refilled, and with HIGHEST_CONFIDENCE the regime acted on changed.

No look-ahead: only snapshots older than the first bar about to be classified are read. Only snapshots of
one "compatible run" count: those stored under parameter versions with the active version's state key, with
no version of another key activated since (the running engine started that state fresh at such an apply).
Version ids grow in activation order (every apply or rollback inserts a new row), which is what makes the
"activated since" check a range of ids.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import and_, desc, or_, select
from sqlalchemy.orm import Session

from engine.params import ParamSet, default_params
from engine.params.versions import get_version
from engine.regime.dynamics import DynamicsConfig
from engine.regime.ensemble.config import CalibrationConfig, EnsembleConfig
from engine.regime.ensemble.model_key import model_key
from engine.regime.ensemble.stepper import AGREEMENT_BARS, EnsembleStepper, Resumed, calibrator_of
from engine.store.models import ParamVersion, RegimeSnapshot

log = logging.getLogger(__name__)

PAGE = 1_000  # snapshots read per query, newest first
MAX_SCAN = 20_000  # snapshots read at most (the model's first verdict may lie further back: logged)


def state_key(params: ParamSet) -> str:
    """Everything the stepper's learned state depends on: the model key and the ensemble, calibration and
    dynamics settings. A version with the same key keeps the state; another key starts it fresh."""
    return repr((model_key(params), EnsembleConfig.of(params), CalibrationConfig.of(params),
                 DynamicsConfig.of(params)))


@dataclass(frozen=True, slots=True)
class Stored:
    """One stored snapshot as the stepper saw it: its bar, the rule-based label and the verdict (None: no model)."""
    ts: datetime
    label: int
    verdict: dict[str, Any] | None


class _Versions:
    """Whether the versions active from a snapshot's version up to the active one all share the active key."""

    def __init__(self, session: Session, params: ParamSet) -> None:
        self.session, self.key = session, state_key(params)
        self.current = params.version_id or 0  # 0: the schema defaults (no version applied yet)
        self.floor = self.current  # versions from floor to current are known to share the key
        self.broken = False

    def _same(self, version_id: int) -> bool:
        try:
            ps = get_version(self.session, version_id) if version_id else default_params()
        except Exception as exc:  # noqa: BLE001 - a version that no longer loads cannot be shown to share the key
            log.info("regime ensemble: parameter version %s not comparable (%s)", version_id, exc)
            return False
        return state_key(ps) == self.key

    def reaches(self, version_id: int | None) -> bool:
        v = version_id or 0
        if self.broken or v > self.current:
            self.broken = True
            return False
        if v < self.floor:
            between = [0] if v == 0 else []
            between += list(self.session.scalars(select(ParamVersion.id).where(
                ParamVersion.id >= max(v, 1), ParamVersion.id < self.floor).order_by(desc(ParamVersion.id))))
            if not all(self._same(i) for i in between):
                self.broken = True
                return False
            self.floor = v
        return True


def stored_verdicts(session: Session, symbol: str, params: ParamSet, before: datetime | None,
                    calls: int, epoch_calls: bool) -> list[Stored]:
    """Oldest first: the compatible run's newest snapshots of `symbol` older than `before` (None: all), enough
    for `calls` calls and AGREEMENT_BARS agreement rows, and with `epoch_calls` (calibration not refitted every
    bar) also `calls` more before the model last in force came in (its calibrator was fitted on those)."""
    versions = _Versions(session, params)
    out: list[Stored] = []
    verdicts, model, epoch_over, before_epoch = 0, None, False, 0
    cursor: tuple[datetime, int] | None = None
    while len(out) < MAX_SCAN:
        q = select(RegimeSnapshot.id, RegimeSnapshot.ts, RegimeSnapshot.regime_id, RegimeSnapshot.param_version_id,
                   RegimeSnapshot.modules).where(RegimeSnapshot.symbol == symbol)
        if before is not None:
            q = q.where(RegimeSnapshot.ts < before)
        if cursor is not None:
            q = q.where(or_(RegimeSnapshot.ts < cursor[0],
                            and_(RegimeSnapshot.ts == cursor[0], RegimeSnapshot.id < cursor[1])))
        rows = session.execute(q.order_by(desc(RegimeSnapshot.ts), desc(RegimeSnapshot.id)).limit(PAGE)).all()
        for r in rows:
            if not versions.reaches(r.param_version_id):
                return out[::-1]
            v = (r.modules or {}).get("ensemble")
            v = v if isinstance(v, dict) else None
            out.append(Stored(r.ts, int(r.regime_id), v))
            if v is not None:
                verdicts += 1
                model = v.get("model_id") if verdicts == 1 else model
            epoch_over = epoch_over or v is None or v.get("model_id") != model
            before_epoch += v is not None and epoch_over
            if verdicts >= max(calls, AGREEMENT_BARS) and (not epoch_calls or before_epoch >= calls):
                return out[::-1]
        if len(rows) < PAGE:
            return out[::-1]
        cursor = (rows[-1].ts, int(rows[-1].id))
    log.warning("regime ensemble: %d stored snapshots read without reaching the model's first verdict; "
                "the calibrator is rebuilt from those", len(out))
    return out[::-1]


def resume(stepper: EnsembleStepper, stored: Sequence[Stored]) -> int:
    """Put the state the stored verdicts imply into a fresh stepper (after its rows were observed); the number
    of verdicts used. The model in force is loaded afterwards (EnsembleLive.refresh): if it is the one these
    verdicts came from, the state stays (stepper.set_model), else it is reset as a model switch resets it."""
    seen = [(s, s.verdict) for s in stored if s.verdict is not None]
    if not seen:
        return 0
    last = seen[-1][1]
    model_id = last.get("model_id")
    epoch = 0  # trailing snapshots with verdicts of the model last in force
    for s in reversed(stored):
        if s.verdict is None or s.verdict.get("model_id") != model_id:
            break
        epoch += 1
    keep = stepper.calls.maxlen or len(seen)
    pairs = [((float(v["confidence"]), int(v["ensemble_regime_id"])), s.label) for s, v in seen]
    earlier = pairs[:len(pairs) - epoch]  # the calls when the model came in
    if stepper.cal.real_time:
        stepper.calibrator = calibrator_of([c for c, _ in pairs[-keep:]], [lab for _, lab in pairs[-keep:]],
                                           stepper.cal)
    else:  # the calibrator was fitted once, when the model came in
        stepper.calibrator = calibrator_of([c for c, _ in earlier[-keep:]], [lab for _, lab in earlier[-keep:]],
                                           stepper.cal)
    for call, label in pairs[-keep:]:
        stepper.calls.append(call)
        stepper.labels.append(label)
    for s in stored[len(stored) - epoch:]:
        assert s.verdict is not None
        for name, answer in (s.verdict.get("votes") or {}).items():
            if name in stepper.hits:
                stepper.hits[name].append(int(answer) == s.label)
    stepper.ensemble_run = (int(last["ensemble_regime_id"]), int(last.get("ensemble_run") or 0))
    if stored[-1].verdict is not None and stepper.rows and _same_ts(stored[-1].ts, stepper.rows[-1]["ts"]) \
            and last.get("rule_run") is not None:
        stepper.rule_run = (stored[-1].label, int(last["rule_run"]))  # a run longer than the warm-up rows
    alpha = last.get("hmm_alpha")
    stepper.resumed = Resumed(model_id, np.asarray(alpha, dtype=float) if alpha else None)
    return len(seen)


def _same_ts(a: datetime, b: Any) -> bool:
    """The same instant, whether the store gave the timestamp with or without its (UTC) zone."""
    ta, tb = pd.Timestamp(a), pd.Timestamp(b)
    ta = ta.tz_localize("UTC") if ta.tzinfo is None else ta
    tb = tb.tz_localize("UTC") if tb.tzinfo is None else tb
    return bool(ta == tb)
