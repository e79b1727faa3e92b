"""Execution state the engine owns: protective stops and sliced parent orders with their children."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.models.base import PK, Base


# ---- execution: protective stops per position, sliced parent orders and their children (issue 17, migration 0009) ----
class ProtectiveStop(Base):
    """The exits attached to one position: stop-loss, trailing stop, take-profit, maximum holding time.

    One active row per symbol; `extreme_price` is the best price seen since it was attached (the
    trailing stop's high-water mark for a long, low-water mark for a short)."""

    __tablename__ = "protective_stops"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    symbol: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # active | blocked | triggered | done | canceled
    direction: Mapped[int] = mapped_column(Integer)  # +1 long, -1 short (the position it protects)
    stop_loss_pct: Mapped[Decimal | None]
    trail_pct: Mapped[Decimal | None]
    trail_atr_mult: Mapped[Decimal | None]
    atr: Mapped[Decimal | None]  # the ATR the ATR trail is measured in, taken when attached
    take_profit_pct: Mapped[Decimal | None]
    max_hold_seconds: Mapped[float | None] = mapped_column(Float)
    entry_price: Mapped[Decimal]
    extreme_price: Mapped[Decimal]
    opened_at: Mapped[datetime]  # market time the holding clock started
    source: Mapped[str] = mapped_column(String(16))  # preset | manual
    actor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    triggered_at: Mapped[datetime | None]
    trigger_kind: Mapped[str | None] = mapped_column(String(16))
    trigger_price: Mapped[Decimal | None]
    exit_client_order_id: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    native_order_id: Mapped[str | None] = mapped_column(String(64))  # a broker-side stop (Alpaca) when there is one


class ParentOrder(Base):
    """A large order worked as child orders (TWAP, VWAP, participation) under one id; canceled as one."""

    __tablename__ = "parent_orders"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(8))
    qty: Mapped[Decimal]
    mode: Mapped[str] = mapped_column(String(16))  # twap | vwap | pov
    status: Mapped[str] = mapped_column(String(16), index=True)  # active | done | canceled | expired
    origin: Mapped[str] = mapped_column(String(24))
    actor: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text, default="")
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    participation: Mapped[Decimal | None]
    limit_offset_bps: Mapped[Decimal | None]
    schedule: Mapped[list] = mapped_column(default=list)  # [[iso time, cumulative target qty], ...]
    filled_qty: Mapped[Decimal] = mapped_column(default=Decimal(0))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ParentChild(Base):
    """Links a child order (an ordinary gateway order) to its parent."""

    __tablename__ = "parent_order_children"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("parent_orders.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    client_order_id: Mapped[str] = mapped_column(String(64), unique=True)
    qty: Mapped[Decimal]
    created_at: Mapped[datetime]

