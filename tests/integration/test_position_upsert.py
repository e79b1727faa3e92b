"""Two writers storing the same positions at the same time (the account and reconcile jobs) both succeed.

On PostgreSQL the old delete-all-then-insert failed with UniqueViolation on positions_pkey: the second
transaction's DELETE does not see the first one's uncommitted INSERT, then its own INSERT of the same
symbol collides once the first commits.
"""
from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from engine.store.migrate import open_store
from engine.store.models import PositionRow
from engine.trading.brokers.base import BrokerPosition
from engine.trading.sync import _store_positions

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def _positions(qty: str) -> list[BrokerPosition]:
    return [BrokerPosition(symbol=s, qty=Decimal(qty), avg_entry_price=Decimal("100"), market_price=Decimal("101"))
            for s in ("BRAVO", "ALFA")]


def _old_way(session, positions: list[BrokerPosition]) -> None:  # type: ignore[no-untyped-def]
    session.execute(delete(PositionRow))
    for p in positions:
        session.add(PositionRow(symbol=p.symbol, qty=p.qty, avg_entry_price=p.avg_entry_price,
                                market_price=p.market_price, unrealized_pnl=None, updated_at=NOW))
    session.flush()


def _race(url: str, write) -> tuple[list[BaseException], dict[str, Decimal]]:  # type: ignore[no-untyped-def]
    """Writer A holds an open transaction with its rows written; writer B writes the same symbols
    meanwhile (blocking on A's rows on PostgreSQL); then A commits. Returns B's error and the rows."""
    store = open_store(url)
    errors: list[BaseException] = []
    b_started = threading.Event()

    def writer_b() -> None:
        b_started.set()
        try:
            with store.write() as session:
                write(session, _positions("7"))
        except BaseException as exc:  # noqa: BLE001 - collected and asserted by the test
            errors.append(exc)

    with store.write() as session:
        write(session, _positions("5"))
        thread = threading.Thread(target=writer_b)
        thread.start()
        b_started.wait(5)
        time.sleep(0.5)  # B is now blocked behind A's uncommitted rows (PostgreSQL) or the write lock (SQLite)
    thread.join(20)
    assert not thread.is_alive()
    with store.read() as session:
        rows = {p.symbol: p.qty for p in session.scalars(select(PositionRow))}
    store.dispose()
    return errors, rows


def test_two_concurrent_position_writers_both_succeed(any_db_url: str) -> None:
    open_store(any_db_url, migrate=True).dispose()
    errors, rows = _race(any_db_url, lambda s, p: _store_positions(s, p, NOW))
    assert errors == []
    assert rows == {"ALFA": Decimal("7"), "BRAVO": Decimal("7")}  # the later writer's values win


def test_the_old_check_then_insert_did_race_on_postgresql(pg_url: str) -> None:
    """The scenario above is the one that failed: the old code raises a unique violation in it."""
    open_store(pg_url, migrate=True).dispose()
    errors, rows = _race(pg_url, _old_way)
    assert len(errors) == 1 and isinstance(errors[0], IntegrityError), errors
    assert "positions_pkey" in str(errors[0])
    assert rows == {"ALFA": Decimal("5"), "BRAVO": Decimal("5")}


def test_positions_the_broker_no_longer_holds_are_removed(any_db_url: str) -> None:
    store = open_store(any_db_url, migrate=True)
    with store.write() as session:
        _store_positions(session, _positions("5"), NOW)
    with store.write() as session:
        _store_positions(session, _positions("5")[:1], NOW)  # only BRAVO left
    with store.read() as session:
        assert [p.symbol for p in session.scalars(select(PositionRow))] == ["BRAVO"]
    with store.write() as session:
        _store_positions(session, [], NOW)
    with store.read() as session:
        assert session.scalars(select(PositionRow)).all() == []
    store.dispose()


@pytest.mark.parametrize("rounds", [20])
def test_sync_from_broker_in_two_threads_never_fails(any_db_url: str, rounds: int) -> None:
    """The real writers: sync_from_broker from two threads at once, as the account and reconcile jobs do."""
    from engine.runtime import build_context
    from engine.settings import load_settings
    from engine.store.models import KeyValue
    from engine.trading.equity import PEAK_KEY, START_OF_DAY_KEY
    from engine.trading.sync import LAST_SYNC_KEY, sync_from_broker

    ctx = build_context(load_settings(database_url=any_db_url), with_source=False, migrate=True)
    with ctx.store.write() as session:  # the paper broker holds two positions
        from engine.store.models import PaperPosition

        session.merge(PaperPosition(symbol="ALFA", qty=Decimal("10"), avg_entry_price=Decimal("100")))
        session.merge(PaperPosition(symbol="BRAVO", qty=Decimal("-3"), avg_entry_price=Decimal("50")))
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def run() -> None:
        start.wait(10)
        for _ in range(rounds):
            try:
                with ctx.store.write() as session:  # every round inserts the rows afresh
                    session.execute(delete(PositionRow))
                    session.execute(delete(KeyValue).where(KeyValue.key.in_((PEAK_KEY, START_OF_DAY_KEY, LAST_SYNC_KEY))))
                sync_from_broker(ctx)
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    with ctx.store.read() as session:
        rows = {p.symbol: p.qty for p in session.scalars(select(PositionRow))}
    assert rows == {"ALFA": Decimal("10"), "BRAVO": Decimal("-3")}
    ctx.store.dispose()
