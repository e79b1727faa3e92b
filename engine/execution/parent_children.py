"""A sliced parent's children: reading them with their orders, and canceling one at the broker.

Split from engine/execution/parents.py (the runner); engine/execution/parent_control.py cancels through here too.
A stopped parent's child whose cancel does not take stays pending and is asked again (engine/execution/child_cancels.py).
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from engine.execution.child_cancels import cancel_at_broker, refused
from engine.protocols import ControlContext
from engine.store.models import OrderRow, ParentChild
from engine.trading.brokers.base import BrokerError, OrderStatus
from engine.trading.orders import NEVER_RECEIVED, mark_canceled_in_store, record_broker_order

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ChildView:
    client_order_id: str
    broker_order_id: str | None
    seq: int
    qty: Decimal
    filled: Decimal
    status: OrderStatus
    created_at: datetime
    never_sent: bool = False  # the sync found the broker never received it (or no order row): ended unfilled


def children_of(session: Any, parent_ids: Sequence[int]) -> dict[int, list[ChildView]]:
    out: dict[int, list[ChildView]] = {pid: [] for pid in parent_ids}
    if not parent_ids:
        return out
    rows = session.execute(
        select(ParentChild.parent_id, ParentChild.seq, ParentChild.client_order_id, ParentChild.qty,
               OrderRow.broker_order_id, OrderRow.filled_qty, OrderRow.status, ParentChild.created_at,
               OrderRow.reject_reason)
        .join(OrderRow, OrderRow.client_order_id == ParentChild.client_order_id, isouter=True)
        .where(ParentChild.parent_id.in_(list(parent_ids))).order_by(ParentChild.seq))
    for pid, seq, coid, qty, broker_id, filled, status, created, why in rows:
        # a link without an order row (the crash window before the gateway recorded it), or a row the sync found the
        # broker never received (a crash after the record, before the send): never sent, so ended unfilled, not a
        # broker's refusal that would fail the parent (its rest goes in the next child)
        never = status is None or (status == OrderStatus.REJECTED.value and not filled and _never_received(why))
        out[pid].append(ChildView(coid, broker_id, seq, qty, filled or Decimal(0),
                                  OrderStatus.CANCELED if never else OrderStatus(status), created, never))
    return out


def _never_received(reason: str | None) -> bool:
    return (reason or "").startswith(NEVER_RECEIVED)


def unsent_confirmed(ctx: ControlContext, kids: Sequence[ChildView]) -> bool:
    """Before the rest of a never-received child goes in a new one: the broker, asked again by client order id,
    still does not know it. The sync's "never received" is a guess the broker may overturn; one it now shows is
    recorded (it counts again, whole) and no child goes this tick. False too when the broker cannot say."""
    for kid in kids:
        if not kid.never_sent:
            continue
        try:
            found = ctx.broker.get_order_by_client_id(kid.client_order_id)
        except BrokerError as exc:
            log.warning("child %s: the broker not asked (%s); no new child this tick", kid.client_order_id, exc)
            return False
        if found is not None:
            record_broker_order(ctx, found)
            return False
    return True


def _cancel_at_broker(ctx: ControlContext, child: ChildView) -> str | None:
    """Ask the broker to cancel a child; its broker order id when the broker accepted, else None."""
    return cancel_at_broker(ctx, child.client_order_id, child.broker_order_id).broker_order_id


def cancel_child(ctx: ControlContext, child: ChildView) -> bool:
    """Cancel a stopped parent's child (an operator's cancel, the parent's end); a fill that beats it is still written
    back by sync. A refused cancel of a child the broker shows still working stays pending: asked again each tick,
    a bounded number of times, then surfaced (child_cancels.py); never marked canceled on our own word."""
    answer = cancel_at_broker(ctx, child.client_order_id, child.broker_order_id)
    if answer.broker_order_id is None:
        if answer.refused is not None:
            refused(ctx, child.client_order_id, child.broker_order_id, answer.refused)
        return False
    mark_canceled_in_store(ctx, [answer.broker_order_id])
    return True


def roll_child(ctx: ControlContext, child: ChildView) -> ChildView | None:
    """Cancel a stale child and return it as the broker then reports it (terminal, its true filled quantity),
    applied to the store at once: the store's filled quantity is the last sync's, and a fill since then would
    otherwise be sent again. None when the broker refused the cancel or cannot show the order ended: the child
    stays open in the store and counts whole, and a later tick (or sync) settles it."""
    if _cancel_at_broker(ctx, child) is None:
        return None
    try:
        order = ctx.broker.get_order_by_client_id(child.client_order_id)
    except BrokerError as exc:
        log.warning("child %s canceled but not read back (%s); its rest waits", child.client_order_id, exc)
        return None
    if order is None or order.status.is_open:  # e.g. Alpaca's pending_cancel: it may still fill
        return None
    record_broker_order(ctx, order)
    return replace(child, broker_order_id=order.broker_order_id, status=order.status,
                   filled=max(child.filled, order.filled_qty))
