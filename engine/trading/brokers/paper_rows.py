"""The paper broker's stored rows (paper_orders, paper_fills) as Broker protocol records."""
from __future__ import annotations

from engine.store.models import PaperFill, PaperOrder
from engine.trading.brokers.base import BrokerFill, BrokerOrder, OrderSide, OrderStatus, OrderType


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
