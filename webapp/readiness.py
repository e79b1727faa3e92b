"""Readiness of a web process: the store answers and its schema is the one this code needs.

Cheap enough for a load balancer probing every few seconds: one query on alembic_version (the newest
migration's revision is read from the migration scripts once per process).

Time-bounded: each probe holds one of the few web threads, so against a mute PostgreSQL it must answer 503
after a few seconds, not hang. Connecting is bounded by the store's connect timeout (engine/store/db.py), the
probe's own statements by a short statement_timeout set for its transaction only (engine statements keep none).
A server that froze after the pool opened its connections never applies that timeout (it is the server's), so
``bounded_readiness`` runs the probe in one thread per store and waits for it a bounded time: a probe still
waiting answers 503 with how long, and later requests share it instead of stacking more blocked threads.
"""
from __future__ import annotations

import functools
import threading
import time
from dataclasses import dataclass, field

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


WAIT_S = PG_CONNECT_TIMEOUT_S + STATEMENT_TIMEOUT_MS / 1000 + 1.0  # both bounds above, and a little slack


@dataclass
class _Flight:
    """One probe running in its own thread; every request that arrives meanwhile waits for this one."""

    started: float = field(default_factory=time.monotonic)
    done: threading.Event = field(default_factory=threading.Event)
    answer: tuple[bool, str] = (False, "")


_flights: dict[int, _Flight] = {}
_flights_lock = threading.Lock()


def _run(store: Store, flight: _Flight) -> None:
    try:
        flight.answer = readiness(store)
    finally:
        flight.done.set()
        with _flights_lock:
            if _flights.get(id(store)) is flight:
                del _flights[id(store)]


def bounded_readiness(store: Store, wait_s: float = WAIT_S) -> tuple[bool, str]:
    """readiness(store), answered within `wait_s` whatever the store does: at most one probe per store runs at a
    time (a frozen server holds that one thread until TCP gives up, never one per request)."""
    with _flights_lock:
        flight = _flights.get(id(store))
        if flight is None:
            flight = _flights[id(store)] = _Flight()
            threading.Thread(target=_run, args=(store, flight), name="readiness-probe", daemon=True).start()
    remaining = wait_s - (time.monotonic() - flight.started)
    if flight.done.wait(timeout=max(0.0, remaining)):
        return flight.answer
    return False, (f"store did not answer in time: a readiness probe has waited "
                   f"{time.monotonic() - flight.started:.0f} s (bound {wait_s:g} s)")
