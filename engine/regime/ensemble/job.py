"""The ensemble's refit job (its own scheduler job, off the live cycle's critical path, the work in a child process).

When at least AdaptiveLearning update_frequency bars have arrived since the newest model's data end
(or there is no model yet for the active parameters' model key, engine/regime/ensemble/model_key.py, or a drift asked for a refit after the newest
model: engine/tuning/drift_job.py), the stored history of the index is replayed
through the rule-based classifier with the active parameters (the labels) and the four models are fitted
on it, in a spawned child process (the replay's and fit's memory and libraries leave with it, so the engine
stays under PerformanceMetrics memory_usage); the fit is stored with the parameter version and the data range.
The newest stored bar is left out: a fit only ever uses bars the live stage has already classified.
"""
from __future__ import annotations

import logging
import multiprocessing
import time
from collections.abc import Callable
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.context import EngineContext
from engine.params.paramset import ParamSet
from engine.params.versions import active_params
from engine.regime.dynamics import DynamicsConfig, history_dynamics, hmm_regime_matrix
from engine.regime.ensemble import store
from engine.regime.ensemble.config import EnsembleConfig
from engine.regime.ensemble.features import frame_from_records, matrix
from engine.regime.ensemble.model_key import model_key
from engine.regime.ensemble.models import MIN_FIT_ROWS, EnsembleFitError, FittedEnsemble, fit_ensemble
from engine.regime.replay import replay
from engine.store import queries
from engine.store.keyvalue import REFIT_REQUEST_KEY, get_value
from engine.store.models import BarRow, EnsembleModelRow

log = logging.getLogger(__name__)

TRAIN_BARS = 20_000  # newest stored bars a refit replays and learns from (~50 sessions of 1-minute bars)
REFIT_CHECK_SECONDS = 300.0  # the scheduler's period of this job (engine/job_specs.py REGIME_MODELS_SECONDS: equal,
# tests/integration/test_backtest_runs_ensemble.py); a backtest runs it on this period of its simulated clock
FIT_TIMEOUT_S = 900.0  # a fit of MAX_FIT_ROWS rows takes well under a minute; past this it is stopped


def _refit_requested(session: Session, symbol: str, params_hash: str) -> bool:
    """A refit request (issue 16: a detected drift with retraining_trigger DRIFT_BASED) newer than the newest model."""
    request = get_value(session, REFIT_REQUEST_KEY)
    if not request:
        return False
    newest = session.scalar(select(func.max(EnsembleModelRow.created_at)).where(
        EnsembleModelRow.symbol == symbol, EnsembleModelRow.params_hash == params_hash))
    return newest is None or datetime.fromisoformat(request["ts"]) > newest


Fit = Callable[[pd.DataFrame, ParamSet, str], FittedEnsemble]


def refit_if_due(ctx: EngineContext, fit: Fit | None = None) -> int | None:
    """Fit and store a new model when one is due; the new model's id, or None.

    `fit`: how the model is fitted, `fit_in_child` unless given. A backtest passes `fit_model` (the function the
    child runs): its run is already a job process of its own, and a spawn per refit would dominate its time."""
    source = ctx.source
    if source is None:
        return None
    symbol = source.index_symbol()
    with ctx.store.read() as session:
        params = active_params(session)
        cfg = EnsembleConfig.of(params)
        if not cfg.enabled:
            return None
        key = model_key(params)  # an edit the fit does not depend on (a risk limit) keeps the model and its cadence
        last_end = session.scalar(select(func.max(EnsembleModelRow.data_end)).where(
            EnsembleModelRow.symbol == symbol, EnsembleModelRow.params_hash == key))
        q = select(func.count()).select_from(BarRow).where(BarRow.symbol == symbol)
        new = session.scalar(q.where(BarRow.ts > last_end) if last_end is not None else q) or 0
        requested = last_end is not None and new > 0 and _refit_requested(session, symbol, key)
        if new < (cfg.refit_every_bars if last_end is not None else MIN_FIT_ROWS + 100) and not requested:
            return None
        bars = queries.bars(session, symbol, TRAIN_BARS + 1)
    bars = bars.iloc[:-1]  # the newest bar may still be in the live stage's hands
    t0 = time.perf_counter()
    try:
        model = (fit or fit_in_child)(bars, params, symbol)
    except EnsembleFitError as exc:
        log.info("%s", exc)
        return None
    with ctx.store.write() as session:
        model_id = store.save(session, model, symbol, params.version_id, key, cfg.method,
                              ctx.clock.now())
    log.info("regime ensemble: model %s fitted on %d bars (%s .. %s) in %.1f s (child process: replay and fit %.1f s)",
             model_id, model.n_rows, model.data_start, model.data_end, model.fit_seconds, time.perf_counter() - t0)
    return model_id


def fit_model(bars: pd.DataFrame, params: ParamSet, symbol: str) -> FittedEnsemble:
    """Replay `bars` through the rule-based classifier (the labels), fit the four models and the dynamics."""
    cfg = EnsembleConfig.of(params)
    frame = frame_from_records(replay(bars, params, symbol=symbol))
    model = fit_ensemble(matrix(frame), frame["label"].to_numpy(), frame["ts"].to_numpy(), cfg.regime_ids,
                         stacking=cfg.method == "STACKING")
    labels = frame["label"].to_numpy()
    hmm_m = hmm_regime_matrix(model.hmm.transmat_, model.hmm_map, model.state_occupancy) \
        if model.state_occupancy is not None else None
    model.dynamics = history_dynamics(DynamicsConfig.of(params), labels, np.diff(np.log(frame["close"].to_numpy())),
                                      cfg.regime_ids, hmm_m)
    return model


def _fit_child(conn: Connection, bars: pd.DataFrame, canonical: dict[str, Any], symbol: str) -> None:
    """The spawned child's work: the fitted model's stored bytes, or the reason no model was fitted."""
    try:
        conn.send(("ok", store.dumps(fit_model(bars, ParamSet.from_canonical(canonical), symbol))))
    except EnsembleFitError as exc:
        conn.send(("refused", str(exc)))
    except Exception as exc:  # noqa: BLE001 - reported to the engine's job, which records the failure
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def fit_in_child(bars: pd.DataFrame, params: ParamSet, symbol: str, timeout_s: float = FIT_TIMEOUT_S) -> FittedEnsemble:
    """`fit_model` in a spawned child process, so the replay's and the fit's memory (and the libraries only
    they load) never stay in the engine: it keeps only the fitted model. Killed after `timeout_s`."""
    mp = multiprocessing.get_context("spawn")  # never fork a process that runs scheduler threads
    receive, send = mp.Pipe(duplex=False)
    child = mp.Process(target=_fit_child, args=(send, bars, params.to_canonical(), symbol),
                       name="regimedesk-ensemble-fit", daemon=True)
    child.start()
    send.close()
    try:
        if not receive.poll(timeout_s):
            raise EnsembleFitError(f"regime ensemble: the fit took longer than {timeout_s:.0f} s and was stopped")
        kind, payload = receive.recv()
    except EOFError:
        raise RuntimeError(f"regime ensemble: the fit process ended without an answer ({child.exitcode})") from None
    finally:
        receive.close()
        if child.is_alive():
            child.join(5)
        if child.is_alive():
            child.kill()
            child.join(5)
    if kind == "refused":
        raise EnsembleFitError(payload)
    if kind != "ok":
        raise RuntimeError(payload)
    return store.loads(payload)
