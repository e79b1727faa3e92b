"""Refuse to run against a database whose schema is older than the code (standalone engine, web-only)."""
from __future__ import annotations

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from engine.store.db import Store, StoreError
from engine.store.migrate import alembic_config


def require_current_schema(store: Store) -> None:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with store.engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    if current != head:
        raise StoreError(
            f"the database {store.safe_url()} is at schema {current or 'empty'}, the code needs {head}: "
            "run `python -m engine migrate` first"
        )
