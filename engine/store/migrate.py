"""Apply Alembic migrations programmatically (embedded start-up and `python -m engine migrate`)."""
from __future__ import annotations

import logging

from alembic import command
from sqlalchemy import text

from engine.store.check import ahead_problem, alembic_config
from engine.store.db import Store, StoreError

__all__ = ["alembic_config", "open_store", "upgrade_to_head"]

log = logging.getLogger(__name__)
_PG_MIGRATION_LOCK = 72_100_001  # advisory lock id: one migrator at a time on PostgreSQL


def upgrade_to_head(store: Store) -> None:
    """Bring the schema to the newest revision; safe when several processes start at once."""
    try:
        ahead = ahead_problem(store)  # never "upgrade" a schema a newer release migrated (alembic cannot find it)
    except Exception as exc:  # noqa: BLE001 - unreachable: turned into a message that names the database
        raise StoreError(f"could not migrate the database {store.safe_url()}: {exc}") from exc
    if ahead is not None:
        raise StoreError(ahead)
    cfg = alembic_config()
    try:
        with store.engine.connect() as conn:
            if store.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            conn.commit()
            if store.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_MIGRATION_LOCK})
                conn.commit()
    except Exception as exc:  # noqa: BLE001 - turned into a message that names the database
        raise StoreError(f"could not migrate the database {store.safe_url()}: {exc}") from exc


def open_store(url: str, migrate: bool = False) -> Store:
    """Open the store; with migrate=True bring its schema to the newest migration first."""
    store = Store(url)
    if migrate:
        upgrade_to_head(store)
    return store
