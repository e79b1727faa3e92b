"""Storing fitted ensembles (ensemble_models) and loading the newest one for a symbol.

Pickles (joblib) are written by the engine's refit job and read back only from this table; the web
never uploads models and nothing here reads a file a user supplied.
"""
from __future__ import annotations

import io
from datetime import datetime
from typing import Any

import joblib
from sqlalchemy import delete, desc, select
from sqlalchemy.orm import Session

from engine.regime.ensemble.models import FittedEnsemble
from engine.store.models import EnsembleModelRow

KEEP_MODELS = 5  # fits kept of a symbol's newest model key (the newest few stay for inspection)
KEEP_KEYS = 5  # model keys of a symbol that keep a fit: a rollback to recent parameters finds its model at once


def dumps(model: FittedEnsemble) -> bytes:
    buf = io.BytesIO()
    joblib.dump(model, buf, compress=3)
    return buf.getvalue()


def loads(blob: bytes) -> FittedEnsemble:
    model = joblib.load(io.BytesIO(blob))
    if not isinstance(model, FittedEnsemble):
        raise TypeError(f"ensemble_models row holds a {type(model).__name__}, not a FittedEnsemble")
    return model


def save(session: Session, model: FittedEnsemble, symbol: str, version_id: int | None, params_hash: str,
         method: str, now: datetime) -> int:
    """Store a fit under its model key (`params_hash`: engine/regime/ensemble/model_key.py). Older fits are
    deleted: the newest KEEP_MODELS of this key stay, and the newest one of each of the other newest keys
    (KEEP_KEYS in all), so a rollback to recent parameters needs no refit before its model is in force."""
    row = EnsembleModelRow(created_at=now, symbol=symbol, param_version_id=version_id, params_hash=params_hash,
                           data_start=model.data_start, data_end=model.data_end, n_rows=model.n_rows,
                           fit_seconds=model.fit_seconds, method=method,
                           metrics={"train_agreement": model.train_agreement, "dynamics": model.dynamics}, blob=dumps(model))
    session.add(row)
    session.flush()
    seen: dict[str, int] = {}  # key -> fits kept, newest first
    old = []
    for oid, key in session.execute(select(EnsembleModelRow.id, EnsembleModelRow.params_hash)
                                    .where(EnsembleModelRow.symbol == symbol).order_by(desc(EnsembleModelRow.id))):
        if key not in seen and len(seen) >= KEEP_KEYS:
            old.append(oid)
            continue
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > (KEEP_MODELS if key == params_hash else 1):
            old.append(oid)
    if old:
        session.execute(delete(EnsembleModelRow).where(EnsembleModelRow.id.in_(old)))
    return int(row.id)


def newest_id(session: Session, symbol: str, params_hash: str) -> int | None:
    """The newest model fitted for this symbol under this model key (models of other keys do not apply)."""
    return session.scalar(select(EnsembleModelRow.id).where(EnsembleModelRow.symbol == symbol,
                                                            EnsembleModelRow.params_hash == params_hash)
                          .order_by(desc(EnsembleModelRow.id)).limit(1))


def load(session: Session, model_id: int) -> FittedEnsemble:
    row = session.get(EnsembleModelRow, model_id)
    if row is None:
        raise KeyError(f"ensemble model {model_id} is gone")
    return loads(row.blob)


def summaries(session: Session, symbol: str | None = None, limit: int = 5, *, params_hash: str | None = None,
              model_id: int | None = None) -> list[dict[str, Any]]:
    """The newest fits without their bytes (for the Regime page); only those of one model key or one id when given."""
    q = select(EnsembleModelRow.id, EnsembleModelRow.created_at, EnsembleModelRow.symbol,
               EnsembleModelRow.param_version_id, EnsembleModelRow.data_start, EnsembleModelRow.data_end,
               EnsembleModelRow.n_rows, EnsembleModelRow.fit_seconds, EnsembleModelRow.method,
               EnsembleModelRow.metrics).order_by(desc(EnsembleModelRow.id)).limit(limit)
    if symbol is not None:
        q = q.where(EnsembleModelRow.symbol == symbol)
    if params_hash is not None:
        q = q.where(EnsembleModelRow.params_hash == params_hash)
    if model_id is not None:
        q = q.where(EnsembleModelRow.id == model_id)
    return [dict(r._mapping) for r in session.execute(q)]


def in_force(session: Session, symbol: str | None, verdict: Any, params_hash: str) -> dict[str, Any] | None:
    """The summary of the model behind `verdict` (the newest snapshot's ensemble verdict names its model_id), else
    of the newest fit for the active parameters' model key (what the live stage would put in force): never
    simply the symbol's newest fit, which after a parameter change or a rollback belongs to other parameters."""
    model_id = verdict.get("model_id") if isinstance(verdict, dict) else None
    if isinstance(model_id, int) and not isinstance(model_id, bool):
        found = summaries(session, symbol, 1, model_id=model_id)
    else:
        found = summaries(session, symbol, 1, params_hash=params_hash)
    return found[0] if found else None
