"""The paper broker's statements, built once.

The broker reads its books several times a cycle (valuation, positions, fills, matching); on a
backtest's in-memory store building a statement (and computing its cache key) cost more than running
it. Values that vary are bound parameters (`since`, `symbols`, `coid`), passed at execution.
"""
from __future__ import annotations

from sqlalchemy import bindparam, select

from engine.store.models import PaperAccount, PaperFill, PaperOrder, PaperPosition
from engine.trading.brokers.paper_books import ZERO
from engine.trading.brokers.paper_sessions import OPEN

ACCOUNT = select(PaperAccount).where(PaperAccount.id == 1)
ACCOUNT_LOCKED = ACCOUNT.with_for_update()
POSITIONS = select(PaperPosition)
OPEN_ORDER_LEGS = select(PaperOrder.symbol, PaperOrder.side, PaperOrder.qty, PaperOrder.filled_qty,
                         PaperOrder.limit_price).where(PaperOrder.status.in_(OPEN))
ORDER_BY_COID = select(PaperOrder).where(PaperOrder.client_order_id == bindparam("coid"))
OPEN_ORDERS = select(PaperOrder).where(PaperOrder.status.in_(OPEN)).order_by(PaperOrder.submitted_at)
ORDERS_SINCE = select(PaperOrder).where(PaperOrder.updated_at >= bindparam("since")).order_by(PaperOrder.updated_at)
FILLS_SINCE = select(PaperFill).where(PaperFill.ts >= bindparam("since")).order_by(PaperFill.id)
HELD = select(PaperPosition).where(PaperPosition.qty != ZERO).order_by(PaperPosition.symbol)
MATCHABLE = (select(PaperOrder)
             .where(PaperOrder.status.in_(OPEN), PaperOrder.symbol.in_(bindparam("symbols", expanding=True)))
             .order_by(PaperOrder.submitted_at, PaperOrder.broker_order_id))
POSITIONS_OF = select(PaperPosition).where(PaperPosition.symbol.in_(bindparam("symbols", expanding=True)))
