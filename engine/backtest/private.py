"""The backtest's own engine context: a private SQLite store, a simulated clock, the paper broker.

Nothing of a run reaches the shared store or the outside world: the store is an in-memory SQLite
database of its own (one connection, StaticPool: no file, no fsync, no WAL), and the trading-state
notifications its risk triggers queue are dropped before they could be sent.
"""
from __future__ import annotations

import itertools
import os
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from engine.context import EngineContext
from engine.market.market_clock import WallMarketClock
from engine.market.types import MarketSource
from engine.notify import AFTER_COMMIT_KEY
from engine.settings import BrokerName, MarketSourceName, Settings
from engine.store.db import Store
from engine.store.installation import pin_installation_id
from engine.store.models import Base
from engine.trading.brokers.paper import PaperBroker
from engine.trading.marks import RUN_BARS_KEY, StoredCloses


class SimClock:
    """The backtest's clock: it shows the end of the bar being processed, moved by the runner only."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(1970, 1, 1, tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, ts: datetime) -> None:
        with self._lock:
            self._now = ts


def _mute(session: Session) -> None:
    session.info.pop(AFTER_COMMIT_KEY, None)  # a backtest's HALT is a result, not news for the trading desk


_RUNS = itertools.count(1)


class PrivateStore(Store):
    """A throw-away SQLite store with the full schema (created from the models: no migration run), on one
    connection (StaticPool: the run is single-threaded). In memory (no file, no fsync) unless `in_memory` is
    False: a long run (a year of minute bars) keeps its rows in a file in `folder` instead of in RAM.

    An in-memory URL names the run (process and a counter): caches keyed by the database URL (the risk
    history's) never mix two runs. The engine's SQLite conventions are kept: BEGIN is ours, IMMEDIATE for writes."""

    def __init__(self, folder: Path, in_memory: bool = True) -> None:
        self.url = (f"sqlite:///file:backtest-{os.getpid()}-{next(_RUNS)}?mode=memory&uri=true" if in_memory
                    else f"sqlite:///{folder / 'backtest.db'}")
        self.engine = create_engine(self.url, poolclass=StaticPool, connect_args={"check_same_thread": False})

        @event.listens_for(self.engine, "connect")
        def _connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # BEGIN is emitted below, as engine/store/db.py does
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=OFF")  # a crash loses only this run
            cursor.close()

        @event.listens_for(self.engine, "begin")
        def _begin(conn: Any) -> None:
            # straight to the driver: ~20 transactions a bar, and SQLAlchemy's statement machinery cost more
            # than the BEGIN itself; a failure is sent again through it, for SQLAlchemy's error
            begin = f"BEGIN {conn.get_execution_options().get('sqlite_begin', 'DEFERRED')}"
            try:
                conn.connection.driver_connection.execute(begin)
            except sqlite3.Error:
                conn.exec_driver_sql(begin)

        Base.metadata.create_all(self.engine)
        self._reader = sessionmaker(self.engine, expire_on_commit=False)
        self._writer = sessionmaker(self.engine.execution_options(sqlite_begin="IMMEDIATE"), expire_on_commit=False)
        for maker in (self._reader, self._writer):
            event.listen(maker, "before_commit", _mute)
        pin_installation_id(self, "")  # a run's client order ids (in its output files) stay the same run after run

    def share_bars(self, bars: StoredCloses) -> None:
        """Every later session carries the run's bars in memory: trading.marks.latest_closes answers from them
        (the same rows the store would return; tests/unit/test_backtest_latest_closes.py)."""
        for maker in (self._reader, self._writer):
            maker.configure(info={RUN_BARS_KEY: bars})


def backtest_settings(folder: Path, cash: float, slippage_bps: float, commission_per_share: float,
                      participation: float) -> Settings:
    """Explicit values for everything a run depends on, so the environment cannot change its result."""
    return Settings(database_url=f"sqlite:///{folder / 'backtest.db'}", market_source=MarketSourceName.CSV,
                    csv_dir=folder, broker=BrokerName.PAPER, paper_starting_cash=cash, paper_slippage_bps=slippage_bps,
                    paper_commission_per_share=commission_per_share, paper_participation=participation,
                    autotrade=True, tick_seconds=1.0, deadman_seconds=0, notify_urls=None)


def private_context(folder: Path, source: MarketSource, settings: Settings, in_memory: bool = True,
                    record_job_runs: bool = False, other_senders: bool = False) -> tuple[EngineContext, SimClock]:
    store = PrivateStore(folder, in_memory)
    clock = SimClock()
    broker = PaperBroker(store, clock, starting_cash=settings.paper_starting_cash,
                         slippage_bps=settings.paper_slippage_bps,
                         commission_per_share=settings.paper_commission_per_share,
                         participation=settings.paper_participation)
    ctx = EngineContext(settings=settings, store=store, clock=clock, broker=broker, source=source,
                        engine_id="backtest", market_clock=WallMarketClock(clock), record_job_runs=record_job_runs,
                        other_senders=other_senders)
    return ctx, clock
