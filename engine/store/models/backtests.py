"""Stored backtest runs with their inputs and output files."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Float, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.models.base import PK, Base


class BacktestRun(Base):
    """One backtest: its inputs (data, range, cash, parameters, preset), its status and progress, its metrics."""

    __tablename__ = "backtest_runs"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    finished_at: Mapped[datetime | None]
    author: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(16), index=True)  # running | done | failed | cancelled
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str | None] = mapped_column(Text)
    data_source: Mapped[str] = mapped_column(String(16))  # stored | csv | upload
    data_label: Mapped[str] = mapped_column(Text)
    index_symbol: Mapped[str] = mapped_column(String(32))
    start_ts: Mapped[datetime | None]
    end_ts: Mapped[datetime | None]
    cash: Mapped[Decimal]
    param_version_id: Mapped[int | None]
    params_label: Mapped[str] = mapped_column(Text)
    params_workbook: Mapped[bytes | None] = mapped_column(LargeBinary)  # the workbook of the parameters used
    preset_name: Mapped[str] = mapped_column(String(64))
    preset: Mapped[dict] = mapped_column(default=dict)
    bars: Mapped[int] = mapped_column(Integer, default=0)
    metrics: Mapped[dict | None]


class BacktestFile(Base):
    """An output table of a run (equity, orders, fills) as gzip-compressed CSV, so it can be reopened and downloaded."""

    __tablename__ = "backtest_files"
    run_id: Mapped[int] = mapped_column(ForeignKey("backtest_runs.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)

