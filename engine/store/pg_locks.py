"""Freeing a PostgreSQL row lock held by a frozen process, so a kill switch is never blocked by it.

The gateway, the risk triggers and the controls lock the one trading-state row (FOR UPDATE) for a
few milliseconds. A process frozen inside such a transaction (SIGSTOP, a debugger, a VM pause)
would keep that lock until its connection dies, and a HALT would wait behind it. The kill switch
therefore waits at most `lock_timeout`, then terminates the sessions that hold a row-level lock on
the table (never plain readers) and tries again. Their transactions roll back; none of them has
talked to a broker inside the transaction, so nothing sent is lost (orders are recorded before they
are sent, in a transaction of their own).
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from engine.store.db import Store

log = logging.getLogger(__name__)

LOCK_NOT_AVAILABLE = "55P03"  # SQLSTATE raised when lock_timeout expires
ROW_LOCK_MODES = ("RowShareLock", "RowExclusiveLock")  # SELECT ... FOR UPDATE / UPDATE; readers hold AccessShareLock


@dataclass(frozen=True, slots=True)
class LockHolder:
    """A session that held a row-level lock on the table, and whether it was terminated."""

    pid: int
    application_name: str
    state: str
    transaction_age_s: float
    query: str
    terminated: bool
    error: str = ""

    @property
    def label(self) -> str:
        """'pid 123 (regimedesk host:456)', as the UI and messages name the session."""
        return f"pid {self.pid} ({self.application_name or 'no name'})"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def set_lock_timeout(session: Session, timeout_ms: int) -> None:
    """Bound how long this transaction waits for a lock (PostgreSQL only; SQLite has its busy timeout)."""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        session.execute(text(f"SET LOCAL lock_timeout = '{int(timeout_ms)}ms'"))


def is_lock_timeout(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", None)
    return isinstance(exc, DBAPIError) and getattr(orig, "sqlstate", None) == LOCK_NOT_AVAILABLE


def terminate_row_lock_holders(store: Store, table: str) -> list[LockHolder]:
    """Terminate every other session of this database holding a row-level lock on `table`."""
    if store.dialect != "postgresql":
        return []
    found = """
        SELECT DISTINCT a.pid, coalesce(a.application_name, ''), coalesce(a.state, ''),
               extract(epoch FROM now() - coalesce(a.xact_start, now())), left(coalesce(a.query, ''), 200)
        FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.relation = to_regclass(:table) AND l.granted AND l.mode = ANY(:modes)
          AND l.pid <> pg_backend_pid() AND a.datname = current_database()
    """
    holders: list[LockHolder] = []
    with store.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        rows = conn.execute(text(found), {"table": table, "modes": list(ROW_LOCK_MODES)}).all()
        for pid, app, state, age, query in rows:
            try:
                ok = bool(conn.execute(text("SELECT pg_terminate_backend(:pid, 2000)"), {"pid": pid}).scalar())
                error = "" if ok else "pg_terminate_backend returned false (already gone?)"
            except DBAPIError as exc:  # e.g. not allowed to signal another role's session
                ok, error = False, str(exc.orig).strip()
            holders.append(LockHolder(int(pid), str(app), str(state), round(float(age), 3), str(query), ok, error))
            log.warning("terminated session pid %s (%s, %s for %.1f s) holding a row lock on %s: %s",
                        pid, app, state, float(age), table, "ok" if ok else error)
    return holders
