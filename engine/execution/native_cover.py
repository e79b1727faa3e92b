"""What a broker-side (native) protective order covers, and getting it out of the way of other exits.

Shared by the engine's own stop check (engine/execution/protect.py: it leaves to a live native order the
exit that order carries, so the two never both sell), the native-order manager
(engine/execution/native_stops.py) and the gateway (engine/trading/gateway.py: Alpaca holds the shares a
resting stop covers, so any other order closing that position first cancels the stop; the manager places
a fresh one for what is left on the next tick).
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.protocols import ControlContext
from engine.store.models import OrderRow
from engine.trading.brokers.base import BrokerError, OrderRequest, OrderStatus, OrderType
from engine.trading.orders import CONTINGENT_TYPES, OPEN_STATUSES, mark_canceled_in_store

log = logging.getLogger(__name__)
NATIVE_TYPES = CONTINGENT_TYPES
NATIVE_ORIGIN = "stop"  # the origin protective exits go through the gateway with (engine/trading/risk.py)
# the StopSpec field a live native order of each type carries; the engine checks the others itself
COVERS = {OrderType.TRAILING_STOP.value: "trail_pct", OrderType.STOP.value: "stop_loss_pct"}


def supports_native(broker: Any) -> bool:
    """Does the broker take stop / trailing-stop orders as protective exits (AlpacaBroker.native_stops)?"""
    return bool(getattr(broker, "native_stops", False))


def native_orders(session: Session, coids: Iterable[str | None]) -> dict[str, OrderRow]:
    """The stored native orders by client order id (the ids ProtectiveStop.native_order_id points to)."""
    wanted = [c for c in coids if c]
    if not wanted:
        return {}
    return {o.client_order_id: o for o in session.scalars(select(OrderRow).where(OrderRow.client_order_id.in_(wanted)))}


def is_live(order: OrderRow | None) -> bool:
    return order is not None and OrderStatus(order.status).is_open


def covered(order: OrderRow | None) -> str | None:
    """The exit a native order carries while it is live (None: dead or absent; the engine checks everything)."""
    if not is_live(order):
        return None
    assert order is not None
    return COVERS.get(order.order_type)


def release_native(ctx: ControlContext, request: OrderRequest) -> str | None:
    """Before another order closes a position: cancel the native stops holding its shares.

    Returns None to go on, or why the order must not be sent (a native stop filled first: the position it
    would close is already gone, and sending would open the opposite one)."""
    if request.order_type.value in NATIVE_TYPES or not supports_native(ctx.broker):
        return None
    with ctx.store.read() as s:
        rows = list(s.scalars(select(OrderRow).where(
            OrderRow.symbol == request.symbol, OrderRow.side == request.side.value,
            OrderRow.order_type.in_(NATIVE_TYPES), OrderRow.status.in_(OPEN_STATUSES),
            OrderRow.broker_order_id.is_not(None))))
    canceled = []
    for row in rows:
        try:
            ctx.broker.cancel_order(cast(str, row.broker_order_id))  # the query selects non-null ids
            canceled.append(str(row.broker_order_id))
        except BrokerError as exc:
            try:
                found = ctx.broker.get_order_by_client_id(row.client_order_id)
            except BrokerError as lookup:
                return f"the native {row.order_type} order {row.client_order_id} could not be canceled ({exc}; {lookup})"
            if found is not None and found.filled_qty > 0:
                return (f"the native {row.order_type} order {row.client_order_id} filled first "
                        f"({found.filled_qty} at {found.filled_avg_price}); not sent, the position has changed")
            if found is not None and found.status.is_open:
                return f"the native {row.order_type} order {row.client_order_id} could not be canceled ({exc})"
            canceled.append(str(row.broker_order_id))
    if canceled:
        mark_canceled_in_store(ctx, canceled)
        log.info("canceled %d native stop(s) on %s before %s", len(canceled), request.symbol, request.client_order_id)
    return None
