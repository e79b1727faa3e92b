"""Connecting to the store: SQLite (WAL, busy timeout, immediate write transactions) or PostgreSQL.

Use `store.read()` for queries and `store.write()` for changes. On SQLite a write transaction
takes the write lock at BEGIN (BEGIN IMMEDIATE), so two processes never deadlock upgrading a
read lock; readers are never blocked thanks to WAL.

PostgreSQL connections are bounded: a connect timeout and TCP keepalives, so a server that accepts TCP but
never answers (or a peer that vanished) fails a caller after seconds instead of holding it forever. No
global statement_timeout: migrations and bulk writes may legitimately run long; short checks (readiness)
bound their own transaction with `bound_statements`.
"""
from __future__ import annotations

import logging
import os
import socket
import sqlite3
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from engine.store.write_gate import NoGate, gate_for

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 10_000
SQLITE_POOL_SIZE = 20  # connections an SQLite store keeps open; no overflow, so none is opened and closed per burst
PG_CONNECT_TIMEOUT_S = 5  # libpq rounds anything below 2 up to 2
# probe an idle connection after 30 s, every 10 s, give up after 3 unanswered probes (~1 min for a dead peer)
PG_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}


class StoreError(Exception):
    """The store cannot be opened or migrated; the message says which database and what to do."""


class _ConnectGuard:
    """What an SQLite engine opens and closes its connections under (nothing, unless guard_sqlite_connections
    set it)."""

    def __init__(self) -> None:
        self.guard: Callable[[], AbstractContextManager[Any]] = nullcontext


_CONNECT_GUARDS: weakref.WeakKeyDictionary[Engine, _ConnectGuard] = weakref.WeakKeyDictionary()


def guard_sqlite_connections(engine: Engine, guard: Callable[[], AbstractContextManager[Any]]) -> None:
    """Open and close `engine`'s SQLite connections under `guard` (no effect on PostgreSQL).

    The web's background jobs are forked children (webapp/background_disk.py's ForkGate): a child forked while
    another thread was opening or closing an SQLite connection inherits SQLite's process-wide mutex locked and
    hangs at its first query. Queries are counted by the pool's checkout events; openings and closings happen
    outside a checkout, so they run under this guard."""
    box = _CONNECT_GUARDS.get(engine)
    if box is not None:
        box.guard = guard


def _configure_sqlite(dbapi_conn: sqlite3.Connection) -> None:
    dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (below)
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_engine(url: str) -> Engine:
    """A pool of at most SQLITE_POOL_SIZE connections, kept open (an overflow connection was opened and closed
    per burst of requests), each opened, configured and closed under the engine's connect guard."""
    parsed = make_url(url)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    box = _ConnectGuard()

    class GuardedConnection(sqlite3.Connection):
        def close(self) -> None:
            with box.guard():
                super().close()

    file_pool: dict[str, Any] = {}
    if parsed.database and parsed.database != ":memory:":
        file_pool = {"pool_size": SQLITE_POOL_SIZE, "max_overflow": 0}
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False,
                                              "factory": GuardedConnection}, **file_pool)
    _CONNECT_GUARDS[engine] = box

    @event.listens_for(engine, "do_connect")
    def _open(dialect, _record, cargs, cparams):
        with box.guard():
            dbapi_conn = dialect.loaded_dbapi.connect(*cargs, **cparams)
            _configure_sqlite(dbapi_conn)
            return dbapi_conn

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _normalise_pg_url(url: str) -> str:
    if url.startswith("postgresql+psycopg2:"):
        return "postgresql+psycopg:" + url.removeprefix("postgresql+psycopg2:")
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def pg_connect_args() -> dict[str, int]:
    """psycopg (libpq) connection parameters that keep a dead or mute server from hanging a caller."""
    return {"connect_timeout": PG_CONNECT_TIMEOUT_S, **PG_KEEPALIVES}


def bound_statements(session: Session, timeout_ms: int) -> None:
    """Limit every statement of `session`'s current transaction (PostgreSQL: SET LOCAL, gone at its end)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT set_config('statement_timeout', :ms, true)"), {"ms": str(int(timeout_ms))})


def _name_pg_session(_dialect, _conn_rec, _cargs, cparams) -> None:
    """Name each PostgreSQL session after its process, so pg_stat_activity (and the kill switch's
    lock release, see pg_locks) says whose session it is."""
    cparams.setdefault("application_name", f"regimedesk {socket.gethostname()}:{os.getpid()}")


class Store:
    """The shared store: an SQLAlchemy engine and two session factories (read, write)."""

    _gate: NoGate = NoGate()  # SQLite files get a SqliteWriteGate: trade controls write first

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite:"):
            self.engine = _sqlite_engine(url)
            write_engine: Engine = self.engine.execution_options(sqlite_begin="IMMEDIATE")
            database = make_url(url).database
            if database and database != ":memory:":
                self._gate = gate_for(database)
        else:
            self.engine = create_engine(_normalise_pg_url(url), pool_pre_ping=True, pool_size=5, max_overflow=5,
                                        connect_args=pg_connect_args())
            event.listen(self.engine, "do_connect", _name_pg_session)
            write_engine = self.engine
        self._reader = sessionmaker(self.engine, expire_on_commit=False)
        self._writer = sessionmaker(write_engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._reader() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction that commits on success and rolls back on any exception; inside
        write_gate.urgent_writes() it goes before routine writes (SQLite)."""
        with self._gate.entry(), self._writer() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()

    def safe_url(self) -> str:
        """The URL without its password, for logs and the health page."""
        return make_url(self.url).render_as_string(hide_password=True)

