"""The dead-man's switch against the Alpaca market source's real cadence (defect: it halted a healthy engine
about every minute): the real AlpacaMarketSource over HTTP (the fake Alpaca server), the engine's real market
job writing the received-at mark, a web-side watcher that knows only the store, on SQLite and PostgreSQL.

Alpaca returns finished 1-minute bars and the engine polls every 10 s, so the newest bar's end is 5-65 s old at the
polls of a healthy feed; the switch must trip only past 30 s + 60 s + 10 s = 100 s, aged like the rest of the product
by the bar's end (engine/market/data_age.py), not by its arrival 5 s later."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from engine import notify
from engine.clock import ManualClock
from engine.context import EngineContext
from engine.health.checks import check_market_data
from engine.jobs import market_tick, run_recorded
from engine.market.alpaca_source import AlpacaMarketSource
from engine.settings import load_settings
from engine.store.migrate import open_store
from engine.store.models import AuditEvent, CommandRow
from engine.trading import state as ts
from engine.trading.brokers.paper import PaperBroker
from engine.trading.control import SimpleControlContext
from engine.trading.state import TradingState
from tests.fake_alpaca import FakeAlpacaServer
from tests.notify_receiver import Receiver
from tests.trading_control_fixtures import beat
from webapp.deadman import DeadmanWatcher

KEY, SECRET = "test-key", "test-secret-never-shown"
START = datetime(2026, 3, 2, 14, 40, 5, tzinfo=UTC)  # Monday 09:40:05 New York: the regular session
POLL = timedelta(seconds=10)


@dataclass
class Desk:
    engine: EngineContext
    web: SimpleControlContext
    server: FakeAlpacaServer
    clock: ManualClock
    watcher: DeadmanWatcher
    rx: Receiver

    def add_minutes(self, first: datetime, last: datetime) -> None:
        t = first
        while t <= last:  # bounded: a few dozen minutes
            for symbol in ("SPY", "AAPL"):
                self.server.book.add_bar(symbol, t, 100, 101, 99, 100.5, 1000)
            t += timedelta(minutes=1)

    def step(self) -> str | None:
        """One engine poll 10 s later (recorded, as the scheduler runs it), a beat, one watcher check."""
        self.clock.advance(POLL)
        assert run_recorded(self.engine, "market", market_tick)
        beat(self.engine.store, self.clock.now())
        return self.watcher.tick()

    def count(self, model, *where) -> int:  # type: ignore[no-untyped-def]
        with self.engine.store.read() as s:
            return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)

    def state(self) -> TradingState:
        with self.engine.store.read() as s:
            return ts.current(s).state


@pytest.fixture
def desk(any_db_url: str) -> Iterator[Desk]:
    clock = ManualClock(START)
    store = open_store(any_db_url, migrate=True)
    with store.write() as s:
        ts.ensure_state(s, clock.now())
    settings = load_settings(database_url=any_db_url, market_source="alpaca", broker="paper", deadman_seconds=30,
                             alpaca_poll_seconds=10, tick_seconds=1, alpaca_key_id=KEY, alpaca_secret_key=SECRET)
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server, Receiver() as rx:
        notify.configure([rx.url()])
        source = AlpacaMarketSource(KEY, SECRET, ["AAPL"], "SPY", server.url, timeout_s=2.0, sdk_retry_wait_s=0.05,
                                    clock=clock, history=timedelta(hours=1))
        broker = PaperBroker(store, clock)
        engine = EngineContext(settings=settings, store=store, clock=clock, broker=broker, source=source)
        # a web worker knows only the store: the cadence comes from the engine's mark
        web = SimpleControlContext(store=store, clock=clock, broker=broker)
        watcher = DeadmanWatcher(web, 30.0, "halt", label="web-worker")
        desk = Desk(engine, web, server, clock, watcher, rx)
        desk.add_minutes(START.replace(minute=0, second=0), datetime(2026, 3, 2, 14, 43, tzinfo=UTC))
        assert run_recorded(engine, "market", market_tick)  # bars up to 14:39, the last finished minute
        beat(store, clock.now())
        try:
            yield desk
        finally:
            notify.configure([])
            store.dispose()


def test_a_live_feed_never_trips_and_a_dead_one_trips_after_bar_plus_poll(desk: Desk) -> None:
    for i in range(24):  # four minutes of 10 s polls: 14:40:15 .. 14:44:05; minutes 14:40 .. 14:43 arrive
        assert desk.step() is None, f"tripped at poll {i + 1} ({desk.clock.now():%H:%M:%S}) on a live feed"
        check = check_market_data(desk.engine, desk.clock.now())
        assert check.status == "healthy", check  # newest data at most 50 s old; degraded only past 70 + 15 s
    assert desk.state() is TradingState.ACTIVE
    assert desk.count(AuditEvent, AuditEvent.action == "deadman.trigger") == 0
    assert desk.count(CommandRow, CommandRow.kind == "halt") == 0
    assert notify.current().flush(10.0) and desk.rx.requests == []

    # the feed stops: the 14:43 bar (ending 14:44:00) arrived at 14:44:05, nothing after it; limit 30 + 60 + 10 = 100 s
    for i in range(9):  # 14:44:15 .. 14:45:35: the bar's end is 15 .. 95 s old, not past the limit
        assert desk.step() is None, f"tripped {10 * (i + 1)} s after the last bars"
    stale = check_market_data(desk.engine, desk.clock.now())
    assert stale.status == "degraded", stale  # 95 s: past 85, below 3 * 70 + 60 = 270
    outcome = desk.step()  # 14:45:45: 105 s
    assert outcome is not None and outcome.startswith("halt #"), outcome
    assert desk.state() is TradingState.HALTED
    assert desk.count(CommandRow, CommandRow.kind == "halt") == 1


def test_already_halted_is_not_halted_or_paged_again(desk: Desk) -> None:
    with desk.engine.store.write() as s:
        ts.change(s, desk.clock.now(), TradingState.HALTED, "alice", "kill switch by hand")
    assert notify.current().flush(10.0)
    paged = len(desk.rx.requests)
    for _ in range(24):  # the feed runs for four minutes, then stops: 14:40:15 .. 14:44:05
        assert desk.step() is None
    outcomes = [desk.step() for _ in range(12)]  # 14:44:15 .. 14:46:05; the incident is at 105 s (14:45:45)
    assert outcomes[:9] == [None] * 9
    assert outcomes[9] == "halt: nothing to do, trading is already HALTED (not notified again)", outcomes
    assert outcomes[10:] == [None, None]  # the same incident: once
    assert desk.count(CommandRow, CommandRow.kind == "halt") == 0
    assert desk.count(AuditEvent, AuditEvent.action == "deadman.trigger") == 1
    assert notify.current().flush(10.0) and len(desk.rx.requests) == paged
    assert desk.state() is TradingState.HALTED
