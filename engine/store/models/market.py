"""Market data the engine stores: instruments, bars, option chains, the simulated market's true regime."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.models.base import PK, Base


class Instrument(Base):
    __tablename__ = "instruments"
    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # index | stock
    has_options: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(16))


class BarRow(Base):
    __tablename__ = "bars"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    symbol: Mapped[str] = mapped_column(String(32))
    ts: Mapped[datetime]
    open: Mapped[float] = mapped_column(Float)
    high: Mapped[float] = mapped_column(Float)
    low: Mapped[float] = mapped_column(Float)
    close: Mapped[float] = mapped_column(Float)
    volume: Mapped[float] = mapped_column(Float)
    __table_args__ = (UniqueConstraint("symbol", "ts", name="uq_bars_symbol_ts"), Index("ix_bars_ts", "ts"))


class OptionChainSnapshot(Base):
    """One chain per underlying and tick; columns stored as a compressed .npz blob (about 250 rows each)."""

    __tablename__ = "option_chain_snapshots"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    underlying: Mapped[str] = mapped_column(String(32))
    ts: Mapped[datetime]
    spot: Mapped[float] = mapped_column(Float)
    contracts: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    __table_args__ = (Index("ix_chain_underlying_ts", "underlying", "ts"),)


class TrueRegimeRow(Base):
    """The simulated market's hidden regime path, kept apart so detection can be scored against it."""

    __tablename__ = "sim_true_regimes"
    ts: Mapped[datetime] = mapped_column(primary_key=True)
    trend: Mapped[str] = mapped_column(String(16))
    volatility: Mapped[str] = mapped_column(String(16))

