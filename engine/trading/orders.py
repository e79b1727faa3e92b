"""The store's order book: applying broker truth to OrderRow and projecting open orders.

Shared by the gateway (right after a submit) and sync (every few seconds) so an order row is
updated by one rule: statuses only move forward and filled quantities only grow.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.lease import check_fence
from engine.market.market_clock import market_clock_of
from engine.protocols import StoreContext
from engine.store.models import OrderRow
from engine.trading.brokers.base import BrokerOrder, OrderSide, OrderStatus, OrderType

OPEN_STATUSES = tuple(s.value for s in OrderStatus if s.is_open)
CONTINGENT_TYPES = (OrderType.STOP.value, OrderType.TRAILING_STOP.value)
_RANK = {OrderStatus.PENDING_NEW: 0, OrderStatus.NEW: 1, OrderStatus.PARTIALLY_FILLED: 2}
TERMINAL_RANK = 3
# The reason the sync gives an order the broker still did not know after the grace: our guess, not the broker's
# word, so any later broker view of the order replaces it (a send that was still in flight did arrive).
NEVER_RECEIVED = "broker: never received"
# The mark our own cancel leaves on a row it sets to CANCELED: the broker accepted the request (Alpaca: 204,
# pending_cancel) but may still refuse it (order_cancel_rejected) and the order works on; the broker's next view
# replaces it. Kept in reject_reason (empty on every order that was not rejected): no schema change.
CANCEL_REQUESTED = "engine: cancel requested"
# The reason a row gets when the broker answered "not found" for it again and again (engine/trading/order_gone.py):
# our conclusion, not the broker's word, so any later broker view of the order replaces it.
NOT_FOUND = "not found at the broker"


def _rank(status: OrderStatus) -> int:
    return _RANK.get(status, TERMINAL_RANK)


def _next_status(old: OrderStatus, new: OrderStatus) -> OrderStatus:
    """Statuses move forward; a terminal one is final except that the broker's FILLED replaces our CANCELED.

    Alpaca accepts a cancel (204) and may still fill the order: our CANCELED was only the request."""
    if _rank(old) == TERMINAL_RANK:
        return new if old is OrderStatus.CANCELED and new is OrderStatus.FILLED else old
    return old if _rank(new) < _rank(old) else new


def apply_broker_order(row: OrderRow, order: BrokerOrder, now: datetime) -> bool:
    """Bring a stored order up to the broker's view; returns True when something changed.

    A larger broker filled quantity always lands, even on a terminal row (a fill after our cancel is still
    a fill, and parents count children by it); a broker view never lowers it or reopens a terminal status,
    except our guesses: the REJECTED the sync guessed for an order the broker did not know yet (NEVER_RECEIVED),
    the CANCELED our own cancel request wrote (CANCEL_REQUESTED; the broker may refuse the cancel) and the
    CANCELED of an order the broker kept answering "not found" for (NOT_FOUND)."""
    old = OrderStatus(row.status)
    reason = row.reject_reason or ""
    guessed = (old is OrderStatus.REJECTED and reason.startswith(NEVER_RECEIVED)) or (
        old is OrderStatus.CANCELED and (reason == CANCEL_REQUESTED or reason.startswith(NOT_FOUND)))
    new = order.status if guessed else _next_status(old, order.status)
    changed = False
    if guessed:  # the broker's view stands and our guess goes (a CANCELED it confirms is final from now on)
        row.reject_reason, changed = None, True
    if new is order.status and row.broker_order_id != order.broker_order_id:  # a view whose status we took
        row.broker_order_id, changed = order.broker_order_id, True
    if new is not old:
        row.status, changed = new.value, True
    if order.filled_qty > row.filled_qty:
        row.filled_qty, changed = order.filled_qty, True
        row.filled_avg_price = order.filled_avg_price or row.filled_avg_price
    if new is OrderStatus.REJECTED and order.reject_reason and not row.reject_reason:
        row.reject_reason, changed = f"broker: {order.reject_reason}", True
    if changed:
        row.updated_at = now
    return changed


def record_broker_order(ctx: StoreContext, order: BrokerOrder) -> bool:
    """Apply one order just read from the broker to its stored row at once (fenced), so a caller acting on it
    before the next sync leaves the store agreeing; False when we never recorded it (sync imports those)."""
    with ctx.store.write() as s:
        check_fence(s, ctx)
        row = s.scalars(select(OrderRow).where(OrderRow.client_order_id == order.client_order_id)).first()
        if row is None:
            return False
        apply_broker_order(row, order, market_clock_of(ctx).now())
        return True


def signed_remaining(row: OrderRow) -> Decimal:
    rest = row.qty - row.filled_qty
    return rest if row.side == OrderSide.BUY.value else -rest


def open_order_deltas(session: Session, symbol: str | None = None) -> dict[str, Decimal]:
    """Per symbol, the signed quantity our open orders would still add to the position.

    Resting stop / trailing-stop orders (broker-side protective exits) are contingent, not working: left out."""
    query = select(OrderRow.symbol, OrderRow.side, OrderRow.qty, OrderRow.filled_qty).where(
        OrderRow.status.in_(OPEN_STATUSES), OrderRow.order_type.not_in(CONTINGENT_TYPES))
    if symbol is not None:
        query = query.where(OrderRow.symbol == symbol)
    deltas: dict[str, Decimal] = defaultdict(Decimal)
    for sym, side, qty, filled in session.execute(query):  # plain tuples: cheap even with many open orders
        rest = qty - filled
        deltas[sym] += rest if side == OrderSide.BUY.value else -rest
    return dict(deltas)


def mark_canceled_in_store(ctx: StoreContext, broker_order_ids: list[str]) -> int:
    """Reflect accepted cancel requests in our orders table at once (sync would, but the engine may be down).

    Marked CANCEL_REQUESTED: until the broker's own view confirms it, a later view of the order working (the
    cancel was refused) or filled reopens the row (apply_broker_order)."""
    if not broker_order_ids:
        return 0
    at = market_clock_of(ctx).now()  # order rows carry the market clock's time
    with ctx.store.write() as s:
        check_fence(s, ctx)  # fenced: an engine writes only under the lease it holds (engine/lease.py)
        result = s.execute(
            update(OrderRow)
            .where(OrderRow.broker_order_id.in_(broker_order_ids), OrderRow.status.in_(OPEN_STATUSES))
            .values(status=OrderStatus.CANCELED.value, reject_reason=CANCEL_REQUESTED, updated_at=at)
        )
        return int(getattr(result, "rowcount", 0) or 0)
