"""Dollar-amount (notional) orders placed outside RegimeDesk, as the store's order book counts them.

Alpaca sends such an order with no share quantity (qty null, notional set), so the mapping gives it its filled
quantity (engine/trading/brokers/alpaca_mapping.py). Counted that way it would add nothing to the open exposure
while it works. Each sync, in its write, the open rest in shares is estimated as (notional - filled_qty * avg) /
last price (never negative) and stored in the row's qty; once the order is done its qty is what filled. The
notional amount is kept in engine_kv (NOTIONAL_KEY) and the row is flagged in reject_reason (shown where orders
are shown; no schema change), as CANCEL_REQUESTED marks a row that was not rejected.
"""
from __future__ import annotations

from datetime import datetime
from decimal import ROUND_DOWN, Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.store.models import KeyValue, OrderRow
from engine.trading.brokers.base import BrokerOrder
from engine.trading.marks import latest_closes, valid_price
from engine.trading.orders import OPEN_STATUSES
from engine.trading.upserts import upsert

NOTIONAL_KEY = "orders.notional"  # {client order id: notional USD} of the notional orders still open
NOTIONAL_MARK = "notional order"
SHARE_STEP = Decimal("0.00000001")  # the store's quantity scale (Money: NUMERIC(24, 8))
ZERO = Decimal(0)


def remaining_shares(notional: Decimal, filled_qty: Decimal, avg_price: Decimal | None,
                     price: Decimal | None) -> Decimal:
    """(notional - filled_qty * avg) / price, never negative; 0 without a valid price."""
    if not valid_price(price):
        return ZERO
    spent = filled_qty * (avg_price or ZERO)
    return max(ZERO, (notional - spent) / price).quantize(SHARE_STEP, rounding=ROUND_DOWN)


def _mark(row: OrderRow, notional: Decimal, price: Decimal | None) -> str:
    head = f"{NOTIONAL_MARK}: {row.side} ${notional:,.2f}"
    if row.status not in OPEN_STATUSES:
        return f"{head} ({row.filled_qty.normalize():f} shares filled)"
    if not valid_price(price):
        return f"{head}: no price yet, its open shares are not counted"
    return f"{head}: open shares estimated at the last price {price.normalize():f}"


def apply_notional(s: Session, seen: list[BrokerOrder], now: datetime) -> int:
    """Register the notional orders just read and re-estimate the open ones (in the sync's write); returns
    the rows changed."""
    kv = s.get(KeyValue, NOTIONAL_KEY)
    registry: dict[str, str] = dict(kv.value) if kv is not None and isinstance(kv.value, dict) else {}
    before = dict(registry)
    registry.update({o.client_order_id: str(o.notional) for o in seen if o.notional is not None})
    if not registry:
        return 0
    rows = list(s.scalars(select(OrderRow).where(OrderRow.client_order_id.in_(list(registry)))))
    closes = latest_closes(s, {r.symbol for r in rows if r.status in OPEN_STATUSES})
    changed = 0
    for row in rows:
        notional = Decimal(registry[row.client_order_id])
        last = closes.get(row.symbol)
        price = last[0] if last and valid_price(last[0]) else row.filled_avg_price or row.limit_price
        if row.status in OPEN_STATUSES:
            qty = row.filled_qty + remaining_shares(notional, row.filled_qty, row.filled_avg_price, price)
        else:
            qty = row.filled_qty
            registry.pop(row.client_order_id)
        mark = _mark(row, notional, price) if not row.reject_reason or row.reject_reason.startswith(NOTIONAL_MARK) \
            else row.reject_reason  # a broker's or our own guess's reason stays
        if qty != row.qty or mark != row.reject_reason:
            row.qty, row.reject_reason, row.updated_at = qty, mark, now
            changed += 1
    registry = {c: v for c, v in registry.items() if c in {r.client_order_id for r in rows}}
    if registry != before:
        upsert(s, KeyValue.__table__, [{"key": NOTIONAL_KEY, "value": registry, "updated_at": now}], key=("key",))
    return changed
