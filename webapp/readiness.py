"""Readiness of a web process: the store answers and its schema is the one this code needs.

Cheap enough for a load balancer probing every few seconds: one query on alembic_version (the newest
migration's revision is read from the migration scripts once per process).
"""
from __future__ import annotations

import functools

from sqlalchemy import text

from engine.store.db import Store
from engine.store.migrate import alembic_config


@functools.cache
def code_schema_head() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


@functools.cache
def code_schema_revisions() -> frozenset[str]:
    from alembic.script import ScriptDirectory

    return frozenset(rev.revision for rev in ScriptDirectory.from_config(alembic_config()).walk_revisions())


def readiness(store: Store) -> tuple[bool, str]:
    """(ready, why not): never looks at the engine, the market or risk; only at this process's store."""
    try:
        with store.read() as session:
            current = session.scalar(text("SELECT version_num FROM alembic_version"))
    except Exception as exc:  # noqa: BLE001 - the reason is the answer
        try:  # reachable but without the migrations table (an empty database)?
            with store.read() as session:
                session.execute(text("SELECT 1"))
        except Exception:  # noqa: BLE001
            return False, f"store unreachable: {type(exc).__name__}"
        current = None
    head = code_schema_head()
    if current != head:
        if current is not None and current not in code_schema_revisions():  # migrated by a newer release
            return False, f"schema {current} is newer than this code ({head}): run the release that migrated it"
        return False, f"schema {current or 'empty'}, this code needs {head}: run `python -m engine migrate`"
    return True, ""
