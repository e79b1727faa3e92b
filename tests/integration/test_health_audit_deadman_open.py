"""The dead-man's switch and the market data check at the regular-session open with the Alpaca source (defect:
a healthy engine was halted at 09:30:00, because the data's age was counted from Friday's last bars as soon
as the market opened, before the first regular bar could arrive at the 09:31:05 poll).

Real AlpacaMarketSource over HTTP (the fake Alpaca server), the engine's real market job writing the
received-at mark, a web-side watcher on the XNYS calendar, on SQLite and PostgreSQL. The open is read from
exchange-calendars, not written down here."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import exchange_calendars as xc
import pandas as pd
import pytest
from sqlalchemy import func, select

from engine import notify
from engine.clock import ManualClock
from engine.context import EngineContext
from engine.health.checks import check_market_data
from engine.jobs import market_tick, run_recorded
from engine.market.alpaca_source import AlpacaMarketSource
from engine.market.exchange import alpaca_calendar
from engine.settings import load_settings
from engine.store.migrate import open_store
from engine.store.models import CommandRow
from engine.trading import state as ts
from engine.trading.brokers.paper import PaperBroker
from engine.trading.control import SimpleControlContext
from engine.trading.state import TradingState
from tests.fake_alpaca import FakeAlpacaServer
from tests.notify_receiver import Receiver
from tests.trading_control_fixtures import beat
from webapp.deadman import DeadmanWatcher

KEY, SECRET = "test-key", "test-secret-never-shown"
POLL = timedelta(seconds=10)
XNYS = xc.get_calendar("XNYS")
MONDAY = date(2026, 3, 2)
OPEN = XNYS.session_open(pd.Timestamp(MONDAY)).to_pydatetime().astimezone(UTC)
FRIDAY = XNYS.previous_session(pd.Timestamp(MONDAY))
FRIDAY_CLOSE = XNYS.session_close(FRIDAY).to_pydatetime().astimezone(UTC)
# threshold 30 s + one 60 s bar + one 10 s poll: stale past 100 s (engine/health/deadman.py market_cadence_s)
LIMIT_S = 30 + 60 + 10


@dataclass
class Desk:
    engine: EngineContext
    server: FakeAlpacaServer
    clock: ManualClock
    watcher: DeadmanWatcher
    rx: Receiver

    def add_minutes(self, first: datetime, last: datetime) -> None:
        t = first
        while t <= last:  # bounded: about an hour of minutes
            for symbol in ("SPY", "AAPL"):
                self.server.book.add_bar(symbol, t, 100, 101, 99, 100.5, 1000)
            t += timedelta(minutes=1)

    def step(self) -> str | None:
        """One engine poll 10 s later, a beat, one watcher check (asking the broker's clock again)."""
        self.clock.advance(POLL)
        run_recorded(self.engine, "market", market_tick)
        beat(self.engine.store, self.clock.now())
        self.watcher._market_open = None  # the watcher asks the broker's clock again (every 60 s in real time)
        return self.watcher.tick()

    def halts(self) -> int:
        with self.engine.store.read() as s:
            return int(s.scalar(select(func.count()).select_from(CommandRow).where(CommandRow.kind == "halt")) or 0)

    def state(self) -> TradingState:
        with self.engine.store.read() as s:
            return ts.current(s).state


@contextmanager
def alpaca_desk_parts(db_url: str, clock: ManualClock, threshold_s: float, action: str,
                      **source_options: Any) -> Iterator[tuple[EngineContext, FakeAlpacaServer, DeadmanWatcher, Receiver]]:
    """An engine on a migrated store at `db_url` with the paper broker and the Alpaca source (AAPL, index SPY, polled
    every 10 s; `source_options` such as history, late_bars) over the fake Alpaca server, notifications to a
    receiver, and a web worker's dead-man watcher (`threshold_s`, `action`) on the Alpaca calendar:
    (engine, server, watcher, receiver). Notifications are reset and the store disposed of on leaving."""
    store = open_store(db_url, migrate=True)
    with store.write() as s:
        ts.ensure_state(s, clock.now())
    settings = load_settings(database_url=db_url, market_source="alpaca", broker="paper", deadman_seconds=30,
                             alpaca_poll_seconds=10, tick_seconds=1, alpaca_key_id=KEY, alpaca_secret_key=SECRET)
    calendar = alpaca_calendar()
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server, Receiver() as rx:
        notify.configure([rx.url()])
        source = AlpacaMarketSource(KEY, SECRET, ["AAPL"], "SPY", server.url, timeout_s=2.0, sdk_retry_wait_s=0.05,
                                    clock=clock, **source_options)
        broker = PaperBroker(store, clock, calendar=calendar)
        engine = EngineContext(settings=settings, store=store, clock=clock, broker=broker, source=source)
        web = SimpleControlContext(store=store, clock=clock, broker=broker)  # a web worker: only the store
        watcher = DeadmanWatcher(web, threshold_s, action, label="web-worker", calendar=calendar)
        try:
            yield engine, server, watcher, rx
        finally:
            notify.configure([])
            store.dispose()


@pytest.fixture
def desk(any_db_url: str) -> Iterator[Desk]:
    after_close = FRIDAY_CLOSE + timedelta(seconds=5)
    clock = ManualClock(after_close)
    with alpaca_desk_parts(any_db_url, clock, 30.0, "halt", history=timedelta(days=4)) as (engine, server, watcher, rx):
        desk = Desk(engine, server, clock, watcher, rx)
        desk.add_minutes(FRIDAY_CLOSE - timedelta(hours=1), FRIDAY_CLOSE - timedelta(minutes=1))  # Friday's last hour
        assert run_recorded(engine, "market", market_tick)  # Friday's bars arrive after the close
        beat(engine.store, clock.now())
        clock.advance(OPEN - timedelta(minutes=5, seconds=-5) - after_close)  # Monday 09:25:05 New York
        yield desk


def test_a_healthy_feed_does_not_trip_at_the_open(desk: Desk) -> None:
    desk.add_minutes(OPEN, OPEN + timedelta(minutes=10))  # from the open on: no pre-market prints
    for _ in range(48):  # 09:25:15 .. 09:33:05; the 09:30 bar arrives at the 09:31:05 poll
        outcome = desk.step()
        now = desk.clock.now()
        assert outcome is None, f"tripped at {now:%H:%M:%S} UTC (open {OPEN:%H:%M} UTC): {outcome}"
        if now >= OPEN:
            check = check_market_data(desk.engine, now)
            # at most 70 s after the open or after the last arrival: below 60 + 10 + 15 s (degraded)
            assert check.status == "healthy", (f"{now:%H:%M:%S}", check)
    assert desk.state() is TradingState.ACTIVE and desk.halts() == 0
    assert notify.current().flush(10.0) and desk.rx.requests == []


def test_a_feed_that_brings_nothing_after_the_open_trips_once_the_first_allowance_has_passed(desk: Desk) -> None:
    """No bar at all after the open: the switch trips at the first poll past open + 100 s, not before."""
    first_trip_at = None
    for _ in range(60):  # 09:25:15 .. 09:35:05
        outcome = desk.step()
        if outcome is not None:
            first_trip_at = desk.clock.now()
            assert outcome.startswith("halt #"), outcome
            break
    assert first_trip_at is not None
    # the polls fall 5 s past each 10 s: the first past open + 100 s is open + 105 s
    assert first_trip_at == OPEN + timedelta(seconds=LIMIT_S + 5)
    assert desk.halts() == 1 and desk.state() is TradingState.HALTED
