"""The key/value table's names and its two operations, in the store layer so every domain reads and
writes them the same way (the gateway, the market job, the health checks, the planner, reconciliation).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from engine.store.models import KeyValue
from engine.store.writes import upsert_rows

# Keys shared across domains (a domain's private keys live beside the code that owns them).
MARKET_DATA_KEY = "market.last_received_at"  # wall-clock arrival of the newest bars: {"ts": iso}; stale-data checks
LEASE_TAKEN_KEY = "engine.lease_taken"  # which engine took the lease, when (the Health page's engines table)
REFIT_REQUEST_KEY = "tuning.refit_request"  # {"ts", "reason"}: a refit of the regime models asked for by drift


def get_value(session: Session, key: str) -> Any | None:
    """The stored value under `key`, or None."""
    row = session.get(KeyValue, key)
    return row.value if row is not None else None


def put_value(session: Session, key: str, value: Any, now: datetime) -> None:
    """Store `value` under `key` (insert or replace). One upsert statement when the row is new, so two
    writers storing the first value at once both succeed."""
    row = session.get(KeyValue, key)
    if row is None:
        upsert_rows(session, KeyValue.__table__, [{"key": key, "value": value, "updated_at": now}], key=["key"])
    else:
        row.value, row.updated_at = value, now
