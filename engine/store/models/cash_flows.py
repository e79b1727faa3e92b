"""Deposits, withdrawals and cash journals the account sync read from the broker: money that moved equity
without trading, kept so the risk marks and the Performance page's returns leave it out."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Boolean, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.models.base import PK, Base


class CashFlowRow(Base):
    """One broker cash activity, stored once (activity_id is unique): a second sync or a restart never counts it
    again. ``snapshot_id`` is the first account snapshot whose equity includes it (the one its sync wrote; for
    flows found by the first read, the first snapshot after the flow's date), None when it predates every
    snapshot; ``equity_after`` is that snapshot's equity, the time-weighted returns' divisor."""

    __tablename__ = "cash_flows"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    activity_id: Mapped[str] = mapped_column(String(128), unique=True)
    broker: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal]  # signed: + deposit, - withdrawal
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    recorded_at: Mapped[datetime]  # the market time of the sync that stored it
    snapshot_id: Mapped[int | None] = mapped_column(PK, index=True)
    equity_after: Mapped[Decimal | None]
    moved_marks: Mapped[bool] = mapped_column(Boolean, default=False)  # False: found by the first read (history)
    description: Mapped[str] = mapped_column(String(200), default="")
