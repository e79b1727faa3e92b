"""A client order id this store derived that an earlier store on the same broker account already used.

Ids are hashed from keys built on database ids (parent-{id}-{seq}, control-{command id}-{symbol},
native-{stop id}-...), which start again at 1 in a new store (a reset, a move from SQLite to PostgreSQL). The first
sync imports the broker's recent orders with their ids; one of them then holds a new intent's id. Its status and
fills are not the intent's, so the gateway refuses the intent instead of answering with that order.
"""
from __future__ import annotations

from engine.store.models import OrderRow
from engine.trading.risk import RiskRejection

IMPORTED_ORIGIN = "external"  # an order row sync imported from the broker (engine/trading/sync.py, _import)


def id_clash(row: OrderRow) -> RiskRejection | None:
    """The refusal when `row` (the stored order holding the intent's id) is one this store never sent, else None.
    The gateway records every order before sending it, so its own orders are never imported."""
    if row.origin != IMPORTED_ORIGIN:
        return None
    return RiskRejection("client_order_id", (
        f"client order id {row.client_order_id} already belongs to an order this store did not send ({row.side} "
        f"{row.qty} {row.symbol}, {row.status}, broker order {row.broker_order_id}, submitted "
        f"{row.created_at:%Y-%m-%d %H:%M}), probably placed from an earlier store on the same broker account. "
        "Nothing was sent; submit the order again as a new command or plan (a new key gives a new id)"))
