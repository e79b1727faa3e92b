"""Readiness of a web process: the store answers and its schema is the one this code needs.

Cheap enough for a load balancer probing every few seconds: one query on alembic_version (the newest
migration's revision is read from the migration scripts once per process).

Time-bounded: each probe holds one of the few web threads, so against a mute PostgreSQL it must answer 503
after a few seconds, not hang. Connecting is bounded by the store's connect timeout (engine/store/db.py), the
probe's own statements by a short statement_timeout set for its transaction only (engine statements keep none).
A server that froze after the pool opened its connections never applies that timeout (it is the server's), so
``bounded_readiness`` runs the probe in one thread per store and waits for it a bounded time: a probe still
waiting answers 503 with how long, and later requests share it instead of stacking more blocked threads.
The same flights (`bounded_call`, `bounded_read`) bound the other store reads of a request that must answer during
an outage: /metrics, /api/health, the Health page and the login check (audit 23).
"""
from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from engine.context import EngineContext
from engine.health.report import health_report, unreachable_report
from engine.store.db import PG_CONNECT_TIMEOUT_S, Store, bound_statements
from engine.store.migrate import alembic_config

T = TypeVar("T")


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
    """One call running in its own thread; every request that arrives meanwhile waits for this one."""

    started: float = field(default_factory=time.monotonic)
    done: threading.Event = field(default_factory=threading.Event)
    answer: Any = None
    error: BaseException | None = None


_flights: dict[Hashable, _Flight] = {}
_flights_lock = threading.Lock()


def _run(key: Hashable, call: Callable[[], Any], flight: _Flight) -> None:
    try:
        flight.answer = call()
    except Exception as exc:  # noqa: BLE001 - handed to every waiter, which says what failed
        flight.error = exc
    finally:
        flight.done.set()
        with _flights_lock:
            if _flights.get(key) is flight:
                del _flights[key]


class TooSlow(Exception):
    """A bounded call did not finish in time (the store froze); `waited_s` says how long its flight has run."""

    def __init__(self, waited_s: float, bound_s: float) -> None:
        super().__init__(f"waited {waited_s:.0f} s (bound {bound_s:g} s)")
        self.waited_s = waited_s


def bounded_call(key: Hashable, call: Callable[[], T], wait_s: float, name: str = "store-read") -> T:
    """`call()` answered within `wait_s` whatever the store does, else TooSlow; its own exception is re-raised.

    At most one call per `key` runs at a time (a frozen server holds that one thread until TCP gives up, never one
    per request): a request arriving meanwhile shares its answer, or gives up at once when it is past its bound."""
    with _flights_lock:
        flight = _flights.get(key)
        if flight is None:
            flight = _flights[key] = _Flight()
            threading.Thread(target=_run, args=(key, call, flight), name=name, daemon=True).start()
    remaining = wait_s - (time.monotonic() - flight.started)
    if not flight.done.wait(timeout=max(0.0, remaining)):
        raise TooSlow(time.monotonic() - flight.started, wait_s)
    if flight.error is not None:
        raise flight.error
    return cast(T, flight.answer)


def bounded_read(store: Store, key: Hashable, call: Callable[[], T], wait_s: float, name: str = "store-read") -> T:
    """bounded_call for a PostgreSQL store; an SQLite file cannot freeze (a lock wait ends with its busy timeout),
    so there a slow read on a loaded machine is waited for, in the caller's thread, rather than reported down."""
    if store.dialect == "sqlite":
        return call()
    return bounded_call((key, id(store)), call, wait_s, name)


def bounded_readiness(store: Store, wait_s: float = WAIT_S) -> tuple[bool, str]:
    """readiness(store), answered within `wait_s` whatever the store does (bounded_call, one probe per store)."""
    try:
        return bounded_call(("readiness", id(store)), lambda: readiness(store), wait_s, "readiness-probe")
    except TooSlow as slow:
        return False, (f"store did not answer in time: a readiness probe has waited "
                       f"{slow.waited_s:.0f} s (bound {wait_s:g} s)")


REPORT_WAIT_S = 4.0  # a scrape or a Health page refresh: well inside Prometheus's 10 s scrape timeout


def bounded_health_report(ctx: EngineContext, wait_s: float = REPORT_WAIT_S) -> dict[str, Any]:
    """health_report(ctx) within `wait_s`; a store that does not answer by then gives unreachable_report (one
    report thread per store at a time, shared by the requests that arrive while it runs)."""
    try:
        return bounded_read(ctx.store, "health", lambda: health_report(ctx), wait_s, "health-report")
    except TooSlow as slow:
        return unreachable_report(ctx, f"did not answer within {wait_s:g} s (a read has waited {slow.waited_s:.0f} s)")
