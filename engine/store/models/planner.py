"""Planner plans, preset versions and the regime -> preset table."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.models.base import PK, Base


class PlannerPlan(Base):
    """One plan the planner made (engine job, CLI or page), with what it was made under and whether it was sent."""

    __tablename__ = "planner_plans"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    origin: Mapped[str] = mapped_column(String(24))  # engine | web | cli
    preset: Mapped[str] = mapped_column(String(64))
    sliders: Mapped[dict] = mapped_column(default=dict)
    regime: Mapped[str | None] = mapped_column(String(48))
    preset_reason: Mapped[str] = mapped_column(Text, default="")
    param_version_id: Mapped[int | None]
    sequences_evaluated: Mapped[int] = mapped_column(Integer)
    elapsed_ms: Mapped[float] = mapped_column(Float)
    steps: Mapped[list] = mapped_column(default=list)
    score: Mapped[dict] = mapped_column(default=dict)
    executed: Mapped[bool] = mapped_column(Boolean, default=False)
    outcomes: Mapped[list] = mapped_column(default=list)


class PlannerPresetVersion(Base):
    """A user preset version: a built-in base + slider positions + overrides; never updated, only added."""

    __tablename__ = "planner_preset_versions"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    author: Mapped[str] = mapped_column(String(64))
    base: Mapped[str] = mapped_column(String(64))
    sliders: Mapped[dict] = mapped_column(default=dict)
    overrides: Mapped[dict] = mapped_column(default=dict)
    note: Mapped[str] = mapped_column(Text, default="")
    __table_args__ = (UniqueConstraint("name", "version", name="uq_planner_preset_versions_name_version"),)


class PlannerRegimePreset(Base):
    """Which preset is in force in a regime (a regime without a row uses "default")."""

    __tablename__ = "planner_regime_presets"
    regime: Mapped[str] = mapped_column(String(48), primary_key=True)
    preset: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime]
    author: Mapped[str] = mapped_column(String(64))

