"""An exit parent never takes off more than the position still holds: its children stop at flat.

Why: a sliced exit (a parent whose whole quantity only shrank the position when it was created) sends children on
its own schedule. If the trader closes the rest by hand meanwhile, those children would open a short (or, buying
back a short, a long) nobody asked for; the gateway judges each child alone and cannot see the parent's unsent
rest. So whether a parent was created as an exit is kept as an engine fact in the key/value table, written in the
same transaction as the parent row (parent_orders has no column for it), and before each child the runner caps it
at the shares still held on the reducing side, net of the symbol's other working orders on the parent's side. A
parent meant to open or add (no such fact) is not touched.
"""
from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from datetime import datetime
from decimal import Decimal

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from engine.protocols import ControlContext
from engine.store.keyvalue import put_value
from engine.store.models import KeyValue, OrderRow
from engine.trading.brokers.base import BrokerError, OrderSide
from engine.trading.orders import CONTINGENT_TYPES, OPEN_STATUSES

log = logging.getLogger(__name__)
KEY_PREFIX = "execution.parent_exit:"  # + parent id: {"position_at_start": str}; present only for exit parents


def exit_key(parent_id: int) -> str:
    return f"{KEY_PREFIX}{parent_id}"


def mark_exit(session: Session, parent_id: int, position: Decimal, now: datetime) -> None:
    """Record, in the caller's (the parent's create) transaction, that parent `parent_id` exits `position`."""
    put_value(session, exit_key(parent_id), {"position_at_start": str(position)}, now)


def forget_exit(session: Session, parent_id: int) -> None:
    """A finished parent needs the fact no more (its create audit keeps it)."""
    session.execute(delete(KeyValue).where(KeyValue.key == exit_key(parent_id)))


def exit_ids(session: Session, parent_ids: Iterable[int]) -> set[int]:
    """Which of `parent_ids` were created as exits."""
    keys = [exit_key(pid) for pid in parent_ids]
    if not keys:
        return set()
    return {int(k.removeprefix(KEY_PREFIX)) for k in session.scalars(select(KeyValue.key).where(KeyValue.key.in_(keys)))}


def held(side: OrderSide, position: Decimal) -> Decimal:
    """The shares an order on `side` can still take off `position`: the long for a sell, the short for a buy."""
    return max(position, Decimal(0)) if side is OrderSide.SELL else max(-position, Decimal(0))


def other_working(session: Session, symbol: str, side: OrderSide, own: Collection[str]) -> Decimal:
    """The unfilled rest of the symbol's working orders on `side` that are not this parent's children (`own`).

    Broker-side stop orders are contingent, not working (as in the gateway's open-order deltas): left out."""
    query = select(OrderRow.qty, OrderRow.filled_qty).where(
        OrderRow.symbol == symbol, OrderRow.side == side.value, OrderRow.status.in_(OPEN_STATUSES),
        OrderRow.order_type.not_in(CONTINGENT_TYPES))
    if own:
        query = query.where(OrderRow.client_order_id.not_in(list(own)))
    return sum((qty - filled for qty, filled in session.execute(query)), Decimal(0))


def broker_held(ctx: ControlContext, symbol: str, side: OrderSide) -> Decimal | None:
    """`held` on the broker's own position, read just before a child goes: the stored one is the last sync's, and a
    fill found since (a rolled child's) is not in it yet. None when the broker cannot say: no child then."""
    try:
        found = next((p.qty for p in ctx.broker.get_positions() if p.symbol == symbol), Decimal(0))
    except BrokerError as exc:
        log.warning("exit parent on %s: the broker's position not read (%s); its next child waits", symbol, exc)
        return None
    return held(side, found)


def closed_note(side: OrderSide, position: Decimal, filled: Decimal, qty: Decimal) -> str:
    """The stored reason an exit parent ends early (its parent.done audit carries it too)."""
    held_now = held(side, position)
    why = ("position already closed" if held_now == 0 else
           f"the {_plain(held_now)} shares still held are covered by other working {side.value} orders")
    return (f"{why} ({_plain(filled)} of {_plain(qty)} filled); the rest was not sent, so the exit never opens the "
            "opposite side")


def _plain(qty: Decimal) -> str:
    """100, not 100.00000000 (PostgreSQL's numeric scale) nor 1E+2."""
    return format(qty.normalize(), "f")
