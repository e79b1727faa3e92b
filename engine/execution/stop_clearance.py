"""Before a protective stop's exit: take the symbol's working orders out of its way (one-cancels-other).

Why: the gateway never lets one order turn a long into a short, and it judges that against the position *with*
open orders. A resting take-profit (sell 50 of a long 100) therefore made the stop's exit (sell 100) a "flip" and
it was refused on every tick until the stop gave up, leaving the position unprotected as the price fell. A stop
that fires means "get out": its symbol's sliced parents stop, its working orders (entries and exits alike; not
broker-side stop orders, which are contingent) are cancelled, and the exit is sized from the broker's position
after a sync, so a child that filled in the meantime is counted.
"""
from __future__ import annotations

import logging
from collections.abc import Collection
from decimal import Decimal

from sqlalchemy import select

from engine.context import EngineContext
from engine.execution.parent_control import ParentError, cancel_parent
from engine.execution.stops import Trigger
from engine.store.models import OrderRow, ParentOrder, PositionRow, ProtectiveStop
from engine.trading.brokers.base import BrokerError
from engine.trading.orders import CONTINGENT_TYPES, OPEN_STATUSES, mark_canceled_in_store
from engine.trading.sync import sync_from_broker

log = logging.getLogger(__name__)
STOP_ACTOR = "system:stops"


def clear_for_exits(ctx: EngineContext, symbols: Collection[str]) -> dict[str, Decimal] | None:
    """Stop the symbols' parents and cancel their working orders; the positions afterwards (None: nothing was in
    the way, the stored positions stand)."""
    if not symbols:
        return None
    with ctx.store.read() as s:
        parents = list(s.scalars(select(ParentOrder.id).where(ParentOrder.status == "active",
                                                               ParentOrder.symbol.in_(symbols))))
        working = list(s.execute(select(OrderRow.symbol, OrderRow.broker_order_id, OrderRow.client_order_id).where(
            OrderRow.symbol.in_(symbols), OrderRow.status.in_(OPEN_STATUSES),
            OrderRow.order_type.not_in(CONTINGENT_TYPES))))
    if not parents and not working:
        return None
    for parent_id in parents:
        try:
            cancel_parent(ctx, int(parent_id), STOP_ACTOR, "a protective stop fired: its exit takes the position")
        except ParentError as exc:  # finished meanwhile
            log.info("stop exit: %s", exc)
    cancelled = []
    for symbol, broker_id, client_id in working:
        if not broker_id:
            found = ctx.broker.get_order_by_client_id(client_id)
            broker_id = found.broker_order_id if found is not None else None
        if not broker_id:
            continue  # never reached the broker: nothing rests there
        try:
            ctx.broker.cancel_order(broker_id)
            cancelled.append(broker_id)
        except BrokerError as exc:  # already filled or cancelled: the sync below says which
            log.info("stop exit: cancel of %s %s refused: %s", symbol, broker_id, exc)
    mark_canceled_in_store(ctx, cancelled)
    sync_from_broker(ctx)
    with ctx.store.read() as s:
        return {p.symbol: p.qty for p in s.scalars(select(PositionRow).where(PositionRow.symbol.in_(symbols)))}


Exit = tuple[ProtectiveStop, Trigger, Decimal]  # a stop, what fired it, the quantity its exit sells or buys


def clear_the_way(ctx: EngineContext, sends: list[Exit], updates: dict[int, dict[str, object]]) -> list[Exit]:
    """The exits sized again once the symbols' working orders are cancelled; a position those orders closed
    meanwhile needs no exit: its stop is done (written into `updates`)."""
    fresh = clear_for_exits(ctx, {row.symbol for row, _trigger, _qty in sends})
    if fresh is None:
        return sends
    kept = []
    for row, trigger, _qty in sends:
        qty = fresh.get(row.symbol, Decimal(0))
        if qty == 0 or (qty > 0) != (row.direction > 0):
            updates[row.id] = {"status": "done"}
        else:
            kept.append((row, trigger, abs(qty)))
    return kept
