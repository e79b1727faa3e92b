"""The ensemble in the live regime stage: picks up the newest model the refit job stored for the active
parameters' model key (only the parameters a fit depends on: a risk-limit edit keeps the model in force),
and adds its verdict to each new classification (nothing is fitted here).
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from engine.params import ParamSet
from engine.regime.dynamics import DynamicsConfig
from engine.regime.ensemble import store
from engine.regime.ensemble.config import CalibrationConfig, EnsembleConfig
from engine.regime.ensemble.features import row_of
from engine.regime.ensemble.model_key import model_key
from engine.regime.ensemble.resume import resume, state_key, stored_verdicts
from engine.regime.ensemble.stepper import EnsembleStepper
from engine.regime.types import RegimeOutput

log = logging.getLogger(__name__)


class EnsembleLive:
    def __init__(self, params: ParamSet, symbol: str) -> None:
        self.cfg = EnsembleConfig.of(params)
        self.params_hash = model_key(params)
        self.symbol = symbol
        self.params = params
        self.state_key = state_key(params)  # a version with the same key may keep this stepper (regime_stage)
        self.stepper = EnsembleStepper(self.cfg, CalibrationConfig.of(params), DynamicsConfig.of(params))

    def warm(self, outputs: list[RegimeOutput]) -> None:
        for o in outputs:
            if not o.warmup:
                self.stepper.observe(row_of(o))

    def resume(self, session: Session, before: datetime | None) -> int:
        """After warm(): the calibrator's calls, the agreement and the filter from the verdicts stored before
        `before` (resume.py), as the engine that stored them had them; the number of verdicts used."""
        if not self.cfg.enabled:
            return 0
        cal = self.stepper.cal
        stored = stored_verdicts(session, self.symbol, self.params, before, cal.window + cal.horizon_bars + 1,
                                 epoch_calls=not cal.real_time)
        return resume(self.stepper, stored)

    def refresh(self, session: Session) -> None:
        """Put the newest stored model for these parameters in force (a cheap id query when unchanged)."""
        if not self.cfg.enabled:
            return
        newest = store.newest_id(session, self.symbol, self.params_hash)
        if newest is None or newest == self.stepper.model_id:
            return
        try:
            model = store.load(session, newest)
        except (KeyError, TypeError, ValueError, EOFError) as exc:
            log.warning("regime ensemble: model %s could not be loaded (%s); keeping the previous one", newest, exc)
            return
        self.stepper.set_model(model, newest)
        log.info("regime ensemble: model %s in force (data %s .. %s, %d rows)", newest, model.data_start,
                 model.data_end, model.n_rows)

    def verdicts(self, outputs: list[RegimeOutput]) -> list[dict[str, Any] | None]:
        if not self.cfg.enabled:
            return [None for _ in outputs]
        return [None if o.warmup else self.stepper.step(row_of(o)) for o in outputs]
