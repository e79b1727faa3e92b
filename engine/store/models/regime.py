"""Parameter versions and what the regime engine decided with them: snapshots, ensemble models, tuning proposals."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.models.base import PK, Base


class ParamVersion(Base):
    """An immutable applied parameter set; exactly one row is_active."""

    __tablename__ = "param_versions"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime]
    author: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))  # default | upload | ui | rollback | cli
    note: Mapped[str] = mapped_column(Text, default="")
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("param_versions.id"))
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    values_json: Mapped[str] = mapped_column(Text)
    diff_json: Mapped[str] = mapped_column(Text, default="[]")
    is_active: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    __table_args__ = (  # at most one active version, even when two applies race
        Index("uq_param_versions_one_active", "is_active", unique=True,
              postgresql_where=text("is_active"), sqlite_where=text("is_active")),
    )


class RegimeSnapshot(Base):
    """One regime classification per engine cycle, with the parameter version that produced it."""

    __tablename__ = "regime_snapshots"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(index=True)
    symbol: Mapped[str] = mapped_column(String(32))
    regime_id: Mapped[int] = mapped_column(Integer)
    regime_name: Mapped[str] = mapped_column(String(48))
    confidence: Mapped[float] = mapped_column(Float)
    raw_score: Mapped[float] = mapped_column(Float)
    volatility_value: Mapped[float] = mapped_column(Float)
    volatility_class: Mapped[str] = mapped_column(String(16))
    trend_value: Mapped[float] = mapped_column(Float)
    trend_class: Mapped[str] = mapped_column(String(24))
    time_in_regime_s: Mapped[float] = mapped_column(Float)
    is_transition: Mapped[bool] = mapped_column(Boolean, default=False)
    transition_rule: Mapped[str | None] = mapped_column(String(32))
    param_version_id: Mapped[int | None]
    modules: Mapped[dict] = mapped_column(default=dict)
    # the regime the engine acts on (engine/regime/ensemble/effective.py); regime_id/regime_name are the
    # rule-based answer. Read both through engine.store.current_regime. NULL status: stored before 0012.
    effective_regime_id: Mapped[int | None] = mapped_column(Integer)  # NULL with status uncertain: no regime
    effective_regime_name: Mapped[str | None] = mapped_column(String(48))
    regime_status: Mapped[str | None] = mapped_column(String(16))  # disabled|no_model|agree|rules|ensemble|uncertain
    regime_reason: Mapped[str | None] = mapped_column(Text)


# --- Regime ensemble (issue 15): fitted models of the workbook's EnsembleMethods ----------------------
class EnsembleModelRow(Base):
    """One walk-forward fit of the regime ensemble, with the parameter version and the data it came from.

    ``blob`` is a joblib pickle written by the engine's own refit job; it is only ever loaded from this
    table (never from an upload)."""

    __tablename__ = "ensemble_models"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime]
    symbol: Mapped[str] = mapped_column(String(32))
    param_version_id: Mapped[int | None]
    params_hash: Mapped[str] = mapped_column(String(64))
    data_start: Mapped[datetime]
    data_end: Mapped[datetime]
    n_rows: Mapped[int] = mapped_column(Integer)
    fit_seconds: Mapped[float] = mapped_column(Float)
    method: Mapped[str] = mapped_column(String(32))
    metrics: Mapped[dict] = mapped_column(default=dict)
    blob: Mapped[bytes] = mapped_column(LargeBinary)
    __table_args__ = (Index("ix_ensemble_models_symbol_id", "symbol", "id"),)


# --- Self-tuning (issue 16): tuning proposals, applied only through engine.params.versions ------------
class TuningProposal(Base):
    """One tuning run's candidate: pending (waiting for an admin), applied, rejected, not_better or stale.

    The candidate's values become a parameter version only through apply_version (engine/tuning/proposals.py)."""

    __tablename__ = "tuning_proposals"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime]
    base_version_id: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(16), index=True)
    seed: Mapped[int] = mapped_column(Integer)
    trials: Mapped[int] = mapped_column(Integer)
    changes: Mapped[list] = mapped_column(default=list)
    values_json: Mapped[str] = mapped_column(Text)
    validation: Mapped[dict] = mapped_column(default=dict)
    reason: Mapped[str] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None]
    applied_version_id: Mapped[int | None]

