"""The backtest's private store sends BEGIN straight to the driver (a speed-up): reads still run in a
DEFERRED transaction, writes take SQLite's write lock at their start (IMMEDIATE), and a BEGIN that fails
still raises SQLAlchemy's error."""
from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from engine.backtest.private import PrivateStore
from engine.store.models import KeyValue


def _driver(session: Session) -> sqlite3.Connection:
    conn = session.connection().connection.driver_connection
    assert isinstance(conn, sqlite3.Connection)
    return conn


def test_read_is_a_transaction_that_takes_no_write_lock(tmp_path: Path) -> None:
    store = PrivateStore(tmp_path, in_memory=False)
    other = sqlite3.connect(tmp_path / "backtest.db", timeout=0, isolation_level=None)
    try:
        with store.read() as s:
            s.execute(select(1))
            assert _driver(s).in_transaction
            other.execute("BEGIN IMMEDIATE")  # a DEFERRED reader holds no write lock: another writer may start
            other.execute("ROLLBACK")
    finally:
        other.close()
        store.dispose()


def test_write_holds_the_write_lock_from_its_start_and_commits(tmp_path: Path) -> None:
    store = PrivateStore(tmp_path, in_memory=False)
    other = sqlite3.connect(tmp_path / "backtest.db", timeout=0, isolation_level=None)
    try:
        with store.write() as s:
            s.execute(select(1))  # no write yet: IMMEDIATE has taken the lock anyway
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
            s.add(KeyValue(key="k", value={"v": 1}, updated_at=datetime(2024, 1, 2, tzinfo=UTC)))
        assert other.execute("SELECT key FROM engine_kv").fetchall() == [("k",)]
    finally:
        other.close()
        store.dispose()


def test_a_failed_begin_raises_sqlalchemys_error(tmp_path: Path) -> None:
    store = PrivateStore(tmp_path, in_memory=False)
    with store.read() as s:
        s.execute(select(1))  # the schema exists; the connection is open
    with store.read() as s:
        _driver(s).execute("PRAGMA busy_timeout=0")  # the store's one connection (StaticPool) gives up at once
    other = sqlite3.connect(tmp_path / "backtest.db", timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        with pytest.raises(OperationalError, match="locked"), store.write() as s:
            s.execute(text("SELECT 1"))
    finally:
        other.execute("ROLLBACK")
        other.close()
        store.dispose()
