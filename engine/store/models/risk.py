"""Portfolio risk snapshots and stress scenarios."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.models.base import PK, Base


class RiskSnapshotRow(Base):
    """One risk cycle's figures of the book (USD; VaR/CVaR 1 day as positive losses), kept as history.

    `breaches`: the portfolio limits the book was above. The newest full report (exposures, correlation,
    scenarios: what the Risk page draws) is one engine_kv row, portfolio_risk.report, replaced every cycle."""

    __tablename__ = "risk_snapshots"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(index=True)
    equity: Mapped[float | None] = mapped_column(Float)
    gross: Mapped[float] = mapped_column(Float)
    net: Mapped[float] = mapped_column(Float)
    hist_var_95: Mapped[float | None] = mapped_column(Float)
    hist_cvar_95: Mapped[float | None] = mapped_column(Float)
    hist_var_99: Mapped[float | None] = mapped_column(Float)
    hist_cvar_99: Mapped[float | None] = mapped_column(Float)
    param_var_95: Mapped[float | None] = mapped_column(Float)
    param_cvar_95: Mapped[float | None] = mapped_column(Float)
    param_var_99: Mapped[float | None] = mapped_column(Float)
    param_cvar_99: Mapped[float | None] = mapped_column(Float)
    beta: Mapped[float | None] = mapped_column(Float)
    cluster_net: Mapped[float] = mapped_column(Float)
    worst_stress_pnl: Mapped[float | None] = mapped_column(Float)
    breaches: Mapped[list] = mapped_column(default=list)


class StressScenarioRow(Base):
    """A user-defined stress scenario: shocks (fractions) by symbol, group or INDEX; saved by a trader, audited."""

    __tablename__ = "stress_scenarios"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    shocks: Mapped[dict] = mapped_column(default=dict)
    created_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime]

