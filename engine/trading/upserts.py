"""The trading side's upserts and duplicate-ignoring inserts, statements built once per (dialect, table, columns).

engine.store.writes.upsert_rows and insert_ignoring_duplicates build their INSERT ... ON CONFLICT on every
call; sync and the equity marks run them every cycle, and on a backtest's in-memory store building the statement (and
computing its cache key) cost more than running it. These are the same statements, built once.
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import FromClause, Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert


def table_of(table: FromClause) -> Table:
    """A mapped class's `__table__` as the Table it is at run time (SQLAlchemy's stubs type it as FromClause)."""
    if not isinstance(table, Table):
        raise TypeError(f"expected a table, got {type(table).__name__}")
    return table


@lru_cache(maxsize=32)
def upsert_statement(dialect: str, table: Table, columns: tuple[str, ...], key: tuple[str, ...]) -> Insert:
    """upsert_rows's statement for rows with `columns`: update every non-key column on a `key` conflict."""
    stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
    updated = {c: stmt.excluded[c] for c in columns if c not in key}
    return stmt.on_conflict_do_update(index_elements=list(key), set_=updated)


def upsert(session: Session, table: FromClause, rows: Sequence[dict[str, Any]], key: tuple[str, ...]) -> None:
    """upsert_rows(session, table, rows, key) through the statement built once (the rows share their columns)."""
    if not rows:
        return
    stmt = upsert_statement(session.get_bind().dialect.name, table_of(table), tuple(rows[0]), key)
    session.execute(stmt, list(rows))


@lru_cache(maxsize=32)
def insert_ignoring_statement(dialect: str, table: Table) -> Insert:
    """insert_ignoring_duplicates's statement: INSERT ... ON CONFLICT DO NOTHING."""
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(table).on_conflict_do_nothing()


def insert_ignoring(session: Session, table: FromClause, rows: Sequence[dict[str, Any]]) -> None:
    """insert_ignoring_duplicates(session, table, rows) through the statement built once."""
    if not rows:
        return
    session.execute(insert_ignoring_statement(session.get_bind().dialect.name, table_of(table)), list(rows))
