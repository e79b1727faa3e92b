"""An order the broker accepted after a HALT was committed is cancelled at once.

The gateway asks the trading state right before the POST, but a HALT can be committed while the POST is on
the wire; when the broker's answer comes back after the kill switch's cancel sweep (it waits only
IN_FLIGHT_WAIT_S for sends in flight), the order would rest at the broker with nobody cancelling it. The
sender itself therefore asks again once the broker has answered: if the state now refuses the order (the
same rule as before the POST, so an operator's reducing flatten still goes), it cancels that order and reads
it back. Either way the HALT was committed before this second read, so an order the sender does not see
halted reached the broker before the HALT and the kill switch's sweep sees it.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

from engine.trading.brokers.base import Broker, BrokerError, BrokerOrder

log = logging.getLogger(__name__)


def cancel_if_halted(broker: Broker, order: BrokerOrder, refusal: Callable[[], str | None]) -> BrokerOrder:
    """`order` as the broker holds it after this check: cancelled when `refusal()` now gives a reason."""
    if not order.status.is_open:
        return order
    try:
        why = refusal()
    except Exception:  # noqa: BLE001 - the state could not be read: the kill switch's sweeps remain the backstop
        log.exception("order %s: trading state not readable after the broker accepted it", order.client_order_id)
        return order
    if not why:
        return order
    log.warning("order %s accepted by the broker after a halt (%s): cancelling it", order.client_order_id, why)
    try:
        broker.cancel_order(order.broker_order_id)
        after = broker.get_order_by_client_id(order.client_order_id)
    except BrokerError as exc:
        log.error("order %s: cancel after the halt failed (%s); the sync and the kill switch's check of open "
                  "orders will see it", order.client_order_id, exc)
        return order
    return after or order
