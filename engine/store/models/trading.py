"""The broker account as the engine last saw it, orders and fills, the trading state and the commands that change it."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.models.base import PK, Base


class AccountSnapshot(Base):
    __tablename__ = "account_snapshots"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(index=True)
    broker: Mapped[str] = mapped_column(String(16))
    cash: Mapped[Decimal]
    equity: Mapped[Decimal]
    buying_power: Mapped[Decimal]
    gross_exposure: Mapped[Decimal]


class PositionRow(Base):
    """The engine's latest view of broker positions (replaced on every snapshot)."""

    __tablename__ = "positions"
    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    qty: Mapped[Decimal]
    avg_entry_price: Mapped[Decimal]
    market_price: Mapped[Decimal | None]
    unrealized_pnl: Mapped[Decimal | None]
    updated_at: Mapped[datetime]


class OrderRow(Base):
    """Every order the gateway created, stored before it is sent and updated from broker events."""

    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    client_order_id: Mapped[str] = mapped_column(String(64), unique=True)
    broker_order_id: Mapped[str | None] = mapped_column(String(64), index=True)
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(8))
    qty: Mapped[Decimal]
    order_type: Mapped[str] = mapped_column(String(16))
    limit_price: Mapped[Decimal | None]
    status: Mapped[str] = mapped_column(String(24), index=True)
    filled_qty: Mapped[Decimal] = mapped_column(default=Decimal(0))
    filled_avg_price: Mapped[Decimal | None]
    reject_reason: Mapped[str | None] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(String(24))  # planner | manual | flatten | kill_switch
    actor: Mapped[str] = mapped_column(String(64))
    param_version_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime]
    lease_epoch: Mapped[int | None]  # the engine lease epoch it was recorded under (None: web, CLI)


class FillRow(Base):
    __tablename__ = "fills"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    fill_key: Mapped[str] = mapped_column(String(96), unique=True)  # broker order id + cumulative qty
    client_order_id: Mapped[str] = mapped_column(String(64), index=True)
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(8))
    qty: Mapped[Decimal]
    price: Mapped[Decimal]
    commission: Mapped[Decimal]
    ts: Mapped[datetime] = mapped_column(index=True)


class TradingStateRow(Base):
    """The single current trading state (id = 1). History lives in trading_state_changes."""

    __tablename__ = "trading_state"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    changed_by: Mapped[str] = mapped_column(String(64))
    changed_at: Mapped[datetime]
    previous_state: Mapped[str | None] = mapped_column(String(16))


class TradingStateChange(Base):
    __tablename__ = "trading_state_changes"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(index=True)
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)


class CommandRow(Base):
    """A request from the web (or CLI) to the engine; the engine runs it and writes the result."""

    __tablename__ = "commands"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    args: Mapped[dict] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending | running | done | failed
    result: Mapped[dict | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class ReconciliationRun(Base):
    """One comparison of broker truth with the store; differences as a JSON list (kind, key, store, broker, value)."""

    __tablename__ = "reconciliation_runs"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(index=True)
    ok: Mapped[bool] = mapped_column(Boolean)
    differences: Mapped[list] = mapped_column(default=list)

