"""What a caller asks the order gateway to send (engine/trading/gateway.py submit): its own module so code the
gateway calls back into (engine/execution/native_plan.py: a stop re-placed during an exit) can build one."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from engine.trading.brokers.base import OrderSide, OrderType


@dataclass(frozen=True, slots=True)
class OrderIntent:
    symbol: str
    side: OrderSide
    qty: Decimal
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    reason: str = ""
    idempotency_key: str = ""  # e.g. planner cycle timestamp; same key -> same client order id
    stop_price: Decimal | None = None  # a native protective STOP (engine/execution/native_stops.py)
    trail_percent: Decimal | None = None  # a native TRAILING_STOP
    time_in_force: str = "day"
