"""The paper broker's stored rows (paper_orders, paper_fills) as Broker protocol records, and its open order
legs grouped for the buying-power check."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from engine.store.models import PaperFill, PaperOrder
from engine.trading.brokers.base import BrokerFill, BrokerOrder, OrderSide, OrderStatus, OrderType
from engine.trading.brokers.paper_books import ZERO, signed


def order_record(row: PaperOrder) -> BrokerOrder:
    return BrokerOrder(
        broker_order_id=row.broker_order_id,
        client_order_id=row.client_order_id,
        symbol=row.symbol,
        side=OrderSide(row.side),
        qty=row.qty,
        order_type=OrderType(row.order_type),
        limit_price=row.limit_price,
        status=OrderStatus(row.status),
        filled_qty=row.filled_qty,
        filled_avg_price=row.filled_avg_price,
        submitted_at=row.submitted_at,
        updated_at=row.updated_at,
        reject_reason=row.reject_reason,
    )


def fill_record(row: PaperFill) -> BrokerFill:
    return BrokerFill(
        broker_order_id=row.broker_order_id,
        client_order_id=row.client_order_id,
        symbol=row.symbol,
        side=OrderSide(row.side),
        qty=row.qty,
        price=row.price,
        commission=row.commission,
        ts=row.ts,
        fill_id=f"paper-fill-{row.id}",
    )


def resting_legs(open_orders: Iterable[Any], closes: dict[str, tuple[Decimal, datetime]]
                 ) -> dict[str, list[tuple[Decimal, Decimal]]]:
    """Open order legs (paper_queries.OPEN_ORDER_LEGS rows) by symbol, as (signed remaining qty, reference
    price): the limit, else the last close. Grouped so a symbol's orders are checked together, not each
    against the bare position (five resting sells of a 1000 long would each look like a pure reduction)."""
    legs: dict[str, list[tuple[Decimal, Decimal]]] = defaultdict(list)
    for sym, side, qty, filled, limit in open_orders:
        legs[sym].append((signed(side, qty - filled), limit or closes.get(sym, (ZERO,))[0]))
    return dict(legs)
