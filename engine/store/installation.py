"""This store's installation id: mixed into every client order id (engine/trading/gateway.py), so a new store on
the same broker account never derives the ids an earlier store used (their keys are built on database ids that
start again at 1: `parent-{id}-{seq}`, `control-{command}-{symbol}`, `native-{row id}-...`).

Made once, on first use, and kept in the key/value table. A store that already recorded orders of its own (or
linked a parent's child) when it is made gets "": its ids stay exactly as before, so an intent in flight at the
upgrade is retried under the id it was recorded with and is never sent twice. Orders a sync imported from the
broker (origin "external") are not this store's: a fresh store whose first sync imported an earlier store's
orders still gets a new id.
"""
from __future__ import annotations

import uuid
import weakref
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from engine.store.db import Store
from engine.store.models import KeyValue, OrderRow, ParentChild

INSTALLATION_KEY = "store.installation_id"  # {"id": str}; "" = a store from before installation ids (legacy ids)
EXTERNAL_ORIGIN = "external"  # engine/trading/sync.py: an order the broker knows and this store did not record

_CACHE: weakref.WeakKeyDictionary[Store, str] = weakref.WeakKeyDictionary()


def _stored(store: Store) -> str | None:
    with store.read() as s:
        row = s.get(KeyValue, INSTALLATION_KEY)
        return None if row is None else str((row.value or {}).get("id", ""))


def _insert(store: Store, value: str | None) -> None:
    """Insert the key once (value None: decide it inside the transaction). A concurrent insert wins: re-read."""
    try:
        with store.write() as s:
            if s.get(KeyValue, INSTALLATION_KEY) is not None:
                return
            if value is None:
                own = s.scalars(select(OrderRow.id).where(OrderRow.origin != EXTERNAL_ORIGIN).limit(1)).first()
                linked = s.scalars(select(ParentChild.id).limit(1)).first()
                value = "" if own is not None or linked is not None else uuid.uuid4().hex[:12]
            s.add(KeyValue(key=INSTALLATION_KEY, value={"id": value}, updated_at=datetime.now(UTC)))
    except IntegrityError:
        pass  # another process made it first; the caller re-reads


def installation_id(store: Store) -> str:
    """The id mixed into this store's client order ids ("" = legacy: ids as before installation ids)."""
    cached = _CACHE.get(store)
    if cached is not None:
        return cached
    value = _stored(store)
    if value is None:
        _insert(store, None)
        value = _stored(store)
        if value is None:  # pragma: no cover - the insert above or a concurrent one committed it
            raise RuntimeError(f"could not record {INSTALLATION_KEY} in {store.safe_url()}")
    _CACHE[store] = value
    return value


def seed_installation_id(store: Store, value: str) -> str:
    """Fix the id before first use (a backtest's private store: "" keeps its ids, and so its output files, the
    same run after run); an id already stored stays. Returns the id in force."""
    _insert(store, value)
    _CACHE.pop(store, None)
    return installation_id(store)


def pin_installation_id(store: Store, value: str) -> None:
    """For this Store object only, nothing written: a backtest's throw-away private store pins "" so its client
    order ids (in the run's output files) are the same run after run."""
    _CACHE[store] = value
