"""Stored working orders the broker no longer knows: counted, then closed.

An order the store has open (new / partially filled) that the broker neither lists as open nor returned in its
recent history, and that it answers "not found" for when looked up by client order id, may be gone for good
(purged, an account reset, keys switched to another account). One 404 proves little; a row left open for ever
counts as working exposure and makes every reconciliation report it. So each 404 is a strike (engine_kv
NOT_FOUND_KEY); after STRIKES strikes spread over at least STRIKE_SPAN, on an order older than MIN_AGE, the row
is marked CANCELED with the reason NOT_FOUND and an audit row. A later broker view of the order replaces that
guess (engine/trading/orders.py apply_broker_order).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import audit
from engine.store.models import KeyValue, OrderRow
from engine.trading.brokers.base import OrderStatus
from engine.trading.orders import NOT_FOUND
from engine.trading.upserts import upsert

NOT_FOUND_KEY = "sync.order_not_found"  # {client order id: {"n": strikes, "first": iso, "last": iso}}
STRIKES = 3  # 404 answers (from separate syncs or reconciliations) before the row is closed
STRIKE_SPAN = timedelta(minutes=2)  # between the first and the last counted 404: not three reads in one burst
MIN_AGE = timedelta(minutes=10)  # an order younger than this is never closed on 404s (well past the pending grace)
ACTOR = "system:sync"
_WORKING = (OrderStatus.NEW.value, OrderStatus.PARTIALLY_FILLED.value)


def _strikes(s: Session) -> dict[str, dict[str, object]]:
    row = s.get(KeyValue, NOT_FOUND_KEY)
    return {k: dict(v) for k, v in row.value.items()} if row is not None and isinstance(row.value, dict) else {}


def record_lookups(s: Session, not_found: list[str], found: list[str], now: datetime, wall: datetime) -> int:
    """Count this read's 404s (`not_found`), forget orders the broker did answer for (`found`), close the rows
    past the limit; returns the rows closed. `now`: the market time rows carry; `wall`: the audit row's time."""
    strikes = _strikes(s)
    if not not_found and not any(c in strikes for c in found):
        return 0
    for coid in found:
        strikes.pop(coid, None)
    for coid in not_found:
        entry = strikes.setdefault(coid, {"n": 0, "first": now.isoformat()})
        entry["n"], entry["last"] = int(str(entry["n"])) + 1, now.isoformat()
    rows = {r.client_order_id: r for r in s.scalars(select(OrderRow).where(OrderRow.client_order_id.in_(list(strikes))))}
    closed = 0
    for coid in list(strikes):
        row = rows.get(coid)
        if row is None or row.status not in _WORKING:
            strikes.pop(coid)  # closed meanwhile (by the broker's word or ours): nothing to count
            continue
        entry = strikes[coid]
        first = datetime.fromisoformat(str(entry["first"]))
        if int(str(entry["n"])) < STRIKES or now - first < STRIKE_SPAN or now - row.created_at < MIN_AGE:
            continue
        _close(s, row, int(str(entry["n"])), first, now, wall)
        strikes.pop(coid)
        closed += 1
    upsert(s, KeyValue.__table__, [{"key": NOT_FOUND_KEY, "value": strikes, "updated_at": now}], key=("key",))
    return closed


def _text(x: Decimal) -> str:
    """50, not 50.00000000 (PostgreSQL NUMERIC keeps its scale)."""
    return format(x.normalize(), "f")


def _close(s: Session, row: OrderRow, n: int, first: datetime, now: datetime, wall: datetime) -> None:
    open_qty = row.qty - row.filled_qty
    row.status, row.updated_at = OrderStatus.CANCELED.value, now
    row.reject_reason = (f"{NOT_FOUND}: {n} lookups by client order id since {first.isoformat(timespec='seconds')} "
                         "answered 404 and the broker lists it neither as open nor in its recent orders")
    audit.record(s, wall, ACTOR, "order.not_found", target=row.symbol, outcome="canceled",
                 details={"client_order_id": row.client_order_id, "broker_order_id": row.broker_order_id,
                          "side": row.side, "qty": _text(row.qty), "open_qty": _text(open_qty), "lookups": n,
                          "first_404": first.isoformat(), "reason": row.reject_reason})
