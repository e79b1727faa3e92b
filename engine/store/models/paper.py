"""The paper broker's own book (the embedded default broker keeps its state in the store)."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Integer, Numeric, String, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeEngine

from engine.store.models.base import PK, Base
from engine.store.types import Money


class ExactDecimal(Money):
    """Money without a fixed scale: unconstrained NUMERIC on PostgreSQL (every digit kept), text on SQLite.

    For the average entry price, a quotient (cost / shares) that NUMERIC(24, 8) would round: an average
    off by e in the last place misstates the P&L of every later close by shares x e (migration 0013)."""

    impl = Numeric()
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))  # text: exact, as Money
        return dialect.type_descriptor(Numeric(asdecimal=True))


class PaperAccount(Base):
    """The paper broker's own books (broker truth for the embedded default), separate from ours."""

    __tablename__ = "paper_account"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cash: Mapped[Decimal]
    realized_pnl: Mapped[Decimal]
    commissions: Mapped[Decimal]
    updated_at: Mapped[datetime]


class PaperOrder(Base):
    __tablename__ = "paper_orders"
    broker_order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_order_id: Mapped[str] = mapped_column(String(64), unique=True)
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(8))
    qty: Mapped[Decimal]
    order_type: Mapped[str] = mapped_column(String(16))
    limit_price: Mapped[Decimal | None]
    status: Mapped[str] = mapped_column(String(24), index=True)
    filled_qty: Mapped[Decimal]
    filled_avg_price: Mapped[Decimal | None]
    reject_reason: Mapped[str | None] = mapped_column(Text)
    submitted_at: Mapped[datetime]
    updated_at: Mapped[datetime] = mapped_column(index=True)


class PaperPosition(Base):
    __tablename__ = "paper_positions"
    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    qty: Mapped[Decimal]
    avg_entry_price: Mapped[Decimal] = mapped_column(ExactDecimal())


class PaperFill(Base):
    __tablename__ = "paper_fills"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    broker_order_id: Mapped[str] = mapped_column(String(64), index=True)
    client_order_id: Mapped[str] = mapped_column(String(64))
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(8))
    qty: Mapped[Decimal]
    price: Mapped[Decimal]
    commission: Mapped[Decimal]
    ts: Mapped[datetime] = mapped_column(index=True)

