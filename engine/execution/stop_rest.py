"""A triggered stop whose exit filled but left shares of the position it protects: those shares are exited too.

Why: the exit is sized at the position when the stop fires. If the position grows before that exit fills (another
entry filling meanwhile), the exit fills in full and leaves shares; the stop stayed "triggered" on its filled exit
for good, so the shares left had no exit at all (no re-fire, no broker-side order, no preset default) while the
Trading page listed a live stop for the symbol. A filled exit only counts as settled once a position sync *after*
the fill was stored (the position row written later than the exit's last update): before it, the stored position
may not show the fill yet, and a second exit then would open the opposite side.
"""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.store.models import OrderRow, PositionRow, ProtectiveStop
from engine.trading.brokers.base import OrderStatus


def filled_but_held(session: Session, rows: Iterable[ProtectiveStop]) -> set[int]:
    """Ids of the triggered stops whose exit filled before the last position sync, which still shows the position
    held the stop's way: their rest is sent again, like an exit that ended unfilled."""
    triggered = [r for r in rows if r.status == "triggered" and r.exit_client_order_id]
    if not triggered:
        return set()
    exits = {o.client_order_id: o for o in session.scalars(select(OrderRow).where(
        OrderRow.client_order_id.in_([r.exit_client_order_id for r in triggered]),
        OrderRow.status == OrderStatus.FILLED.value))}
    positions = {p.symbol: p for p in session.scalars(select(PositionRow).where(
        PositionRow.symbol.in_({r.symbol for r in triggered})))}
    out = set()
    for row in triggered:
        order, pos = exits.get(row.exit_client_order_id or ""), positions.get(row.symbol)
        if order is None or pos is None or pos.qty == 0 or (pos.qty > 0) != (row.direction > 0):
            continue
        if pos.updated_at is not None and order.updated_at is not None and pos.updated_at > order.updated_at:
            out.add(int(row.id))
    return out
