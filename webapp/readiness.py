"""Readiness of a web process: the store answers and its schema is the one this code needs.

Cheap enough for a load balancer probing every few seconds: one query on alembic_version (the newest
migration's revision is read from the migration scripts once per process).

Time-bounded: each probe holds one of the few web threads, so against a mute PostgreSQL it must answer 503
after a few seconds, not hang. Connecting is bounded by the store's connect timeout (engine/store/db.py), the
probe's own statements by a short statement_timeout set for its transaction only (engine statements keep none).
"""
from __future__ import annotations

import functools

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from engine.store.db import PG_CONNECT_TIMEOUT_S, Store, bound_statements
from engine.store.migrate import alembic_config


@functools.cache
def code_schema_head() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


@functools.cache
def code_schema_revisions() -> frozenset[str]:
    from alembic.script import ScriptDirectory

    return frozenset(rev.revision for rev in ScriptDirectory.from_config(alembic_config()).walk_revisions())


STATEMENT_TIMEOUT_MS = 2_000  # the probe's own queries; a healthy store answers them in milliseconds
TIMEOUT_MARKERS = ("timeout expired", "statement timeout", "timed out")


def _unreachable(exc: Exception, dialect: str) -> str:
    """Why the store did not answer, without the URL or driver text (which may name hosts or users)."""
    original = getattr(exc, "orig", None) or exc
    name = type(original).__name__
    if any(marker in str(original).lower() for marker in TIMEOUT_MARKERS):
        bound = f"{PG_CONNECT_TIMEOUT_S} s to connect, {STATEMENT_TIMEOUT_MS / 1000:g} s per statement"
        return f"store did not answer in time ({bound}): {name}" if dialect == "postgresql" else \
            f"store did not answer in time: {name}"
    return f"store unreachable: {name}"


def readiness(store: Store) -> tuple[bool, str]:
    """(ready, why not): never looks at the engine, the market or risk; only at this process's store."""
    try:
        with store.read() as session:
            bound_statements(session, STATEMENT_TIMEOUT_MS)
            session.execute(text("SELECT 1"))
            try:
                current = session.scalar(text("SELECT version_num FROM alembic_version"))
            except DBAPIError as exc:  # reachable: no migrations table (an empty database)? else the store failed
                if "alembic_version" not in str(exc.orig):  # "no such table" / "relation ... does not exist"
                    raise
                current = None
    except Exception as exc:  # noqa: BLE001 - the reason is the answer
        return False, _unreachable(exc, store.dialect)
    head = code_schema_head()
    if current != head:
        if current is not None and current not in code_schema_revisions():  # migrated by a newer release
            return False, f"schema {current} is newer than this code ({head}): run the release that migrated it"
        return False, f"schema {current or 'empty'}, this code needs {head}: run `python -m engine migrate`"
    return True, ""
