"""The engine's process state: heartbeat, lease (fencing), job runs, health results and shared key/values."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.models.base import PK, Base


class EngineHeartbeat(Base):
    """One row per engine process; the row holding an unexpired lease is the active engine."""

    __tablename__ = "engine_heartbeats"
    engine_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(128))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    last_beat: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))  # active | standby | stopped


class EngineLease(Base):
    """Exactly one active engine: the holder renews lease_until; a standby takes over when it lapses."""

    __tablename__ = "engine_lease"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    lease_until: Mapped[datetime]
    epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # +1 on every takeover: the fencing token


class JobRun(Base):
    __tablename__ = "job_runs"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    job: Mapped[str] = mapped_column(String(48))
    engine_id: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime]
    duration_ms: Mapped[float] = mapped_column(Float)
    outcome: Mapped[str] = mapped_column(String(16))  # ok | error | skipped
    error: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (Index("ix_job_runs_job_started", "job", "started_at"),)


class HealthResult(Base):
    """One health check's outcome in one run of the engine's health job (history for sparklines, /metrics)."""

    __tablename__ = "health_results"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    ts: Mapped[datetime]
    engine_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # healthy | degraded | unhealthy
    detail: Mapped[str] = mapped_column(Text)
    value: Mapped[float | None] = mapped_column(Float)
    __table_args__ = (Index("ix_health_results_ts", "ts"), Index("ix_health_results_name_ts", "name", "ts"))


class KeyValue(Base):
    """Small engine facts that must survive a restart (equity peak, last reconciliation...)."""

    __tablename__ = "engine_kv"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict]
    updated_at: Mapped[datetime]

