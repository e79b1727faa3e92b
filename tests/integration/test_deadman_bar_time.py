"""The dead-man's switch ages an Alpaca feed by its bars' market time within XNYS sessions, like the rest of the
product (engine/market/data_age.py), not by when the bars arrived (defect: a feed whose bars arrive on time but
stamped 55 s, 65 s or 25 minutes old never tripped it, and a closed market tripped it whenever the broker's last,
cached answer still said open). A stale feed is one incident, paged once while it stays stale (even as newer, still
old bars arrive), and its recovery is audited and told once, also with two web workers.

Real AlpacaMarketSource over HTTP (the fake Alpaca server), the engine's real market job writing the received-at
mark (with "bar_s"), a web-side watcher that knows only the store, notifications to a real HTTP receiver, on
SQLite and PostgreSQL. Sessions come from exchange-calendars, not written down here."""
from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import exchange_calendars as xc
import pandas as pd
import pytest
from sqlalchemy import func, select

from engine import notify
from engine.clock import ManualClock
from engine.context import EngineContext
from engine.health import deadman
from engine.health.checks import check_market_data
from engine.jobs import market_tick, run_recorded
from engine.store.migrate import open_store
from engine.store.models import AuditEvent
from engine.trading import state as ts
from engine.trading.control import SimpleControlContext
from engine.trading.state import TradingState
from tests.fake_alpaca import FakeAlpacaServer
from tests.integration.test_health_audit_deadman_open import alpaca_desk_parts
from tests.notify_receiver import Receiver
from tests.trading_control_fixtures import beat
from webapp.deadman import DeadmanWatcher

POLL = timedelta(seconds=10)
MINUTE = timedelta(minutes=1)
XNYS = xc.get_calendar("XNYS")
MONDAY = date(2026, 3, 2)
OPEN = XNYS.session_open(pd.Timestamp(MONDAY)).to_pydatetime().astimezone(UTC)
CLOSE = XNYS.session_close(pd.Timestamp(MONDAY)).to_pydatetime().astimezone(UTC)
START = OPEN + timedelta(hours=1, seconds=5)  # 10:30:05 New York
THRESHOLD_S = 30.0  # stale past 30 + one 60 s bar + one 10 s poll = 100 s; fresh again at 100 - 60 = 40 s or less
TRIPPED = "RegimeDesk: dead-man's switch tripped"
FRESH = "RegimeDesk: market data fresh again"
NONE_DONE = "none: shown and notified only (REGIMEDESK_DEADMAN_ACTION=none)"


@dataclass
class Desk:
    engine: EngineContext
    server: FakeAlpacaServer
    clock: ManualClock
    watcher: DeadmanWatcher
    rx: Receiver
    added: dict[str, datetime]

    def publish(self, last: datetime, symbols: tuple[str, ...] = ("SPY", "AAPL")) -> None:
        """The server has every minute bar of `symbols` up to the one opening at `last` (bounded: minutes)."""
        for symbol in symbols:
            t = self.added.get(symbol, OPEN - MINUTE) + MINUTE
            while t <= last:
                self.server.book.add_bar(symbol, t, 100, 101, 99, 100.5, 1000)
                self.added[symbol] = t
                t += MINUTE

    def lagging(self, lag: timedelta) -> None:
        """Publish what a feed `lag` behind has by the next poll: the bars that ended `lag` before it."""
        self.publish(minute_of(self.clock.now() + POLL - lag) - MINUTE)

    def step(self) -> str | None:
        """One engine poll 10 s later (recorded, as the scheduler runs it), a beat, one watcher check."""
        self.clock.advance(POLL)
        assert run_recorded(self.engine, "market", market_tick)
        beat(self.engine.store, self.clock.now())
        self.watcher._market_open = None  # the watcher asks the broker's clock again (every 60 s in real time)
        return self.watcher.tick()

    def audits(self, action: str) -> int:
        with self.engine.store.read() as s:
            return int(s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)) or 0)

    def titles(self) -> list[str]:
        assert notify.current().flush(10.0)
        return [r["json"]["title"] for r in self.rx.requests]

    def state(self) -> TradingState:
        with self.engine.store.read() as s:
            return ts.current(s).state


def minute_of(t: datetime) -> datetime:
    return t.replace(second=0, microsecond=0)


def view_at(desk: Desk, now: datetime) -> deadman.DeadmanView:
    return deadman.read_view(desk.engine.store, now, THRESHOLD_S, True, desk.watcher.cadence_s,
                             deadman.session_open_at(desk.watcher.calendar, now))


@pytest.fixture
def desk(any_db_url: str, request: pytest.FixtureRequest) -> Iterator[Desk]:
    late_bars = getattr(request, "param", timedelta(minutes=2))  # the source's default: bars up to 2 min late
    clock = ManualClock(START)
    with alpaca_desk_parts(any_db_url, clock, THRESHOLD_S, "none", history=timedelta(hours=1),
                           late_bars=late_bars) as (engine, server, watcher, rx):
        yield Desk(engine, server, clock, watcher, rx, {})


def _lagging_feed(desk: Desk, lag: timedelta, steps: int, watchers: list[DeadmanWatcher]) -> list[str | None]:
    """`steps` polls of a feed publishing each bar `lag` after it ends, each followed by every watcher's check;
    returns what the watchers did. Checks the age against the bars published and that a trip is one incident."""
    outcomes: list[str | None] = []
    incident = None
    for _ in range(steps):
        desk.lagging(lag)
        outcomes.append(desk.step())
        outcomes.extend(w.tick() for w in watchers)
        now = desk.clock.now()
        view = view_at(desk, now)
        assert view.market is not None
        assert view.market.age_s == pytest.approx((now - minute_of(now - lag)).total_seconds()), view.reason
        if view.tripped:
            incident = incident or view.incident
            assert view.incident == incident, (f"{now:%H:%M:%S}", view.incident, incident)
            assert view.record is not None
    assert incident is not None, "never tripped"
    return outcomes



def test_a_feed_lagging_65_s_is_one_incident_paged_once_and_its_recovery_told_once(desk: Desk) -> None:
    """Each bar arrives at the first poll 65 s after it ends, so the received-at mark is never more than 60 s old
    while the newest bar's end is 65 .. 125 s old at the polls: stale past 100 s once a minute, never fresh."""
    lag = timedelta(seconds=65)
    desk.publish(minute_of(START - lag) - MINUTE)  # at 15:30:05 UTC: up to the 15:28 bar, ending 15:29:00
    outcomes = _lagging_feed(desk, lag, 30, [])  # 15:30:15 .. 15:35:05
    assert outcomes[3] == NONE_DONE, outcomes  # 15:30:45: 105 s
    assert outcomes[:3] + outcomes[4:] == [None] * 29, outcomes
    assert desk.audits("deadman.trigger") == 1 and desk.audits("deadman.recovered") == 0
    assert desk.titles() == [TRIPPED]
    assert "the newest bar ends 2026-03-02 15:29:00 UTC" in desk.rx.requests[0]["json"]["message"]
    assert desk.state() is TradingState.ACTIVE  # action none

    desk.lagging(timedelta(0))  # the feed catches up: every finished minute is there at the next poll
    assert desk.step() is None  # 15:35:15: the 15:34 bar ended 15 s ago
    assert desk.audits("deadman.recovered") == 1
    view = view_at(desk, desk.clock.now())
    assert not view.tripped and view.recovered is None and view.market is not None
    assert view.market.age_s == pytest.approx(15.0)
    for _ in range(12):  # two more minutes of a healthy feed
        desk.lagging(timedelta(0))
        assert desk.step() is None
    assert desk.audits("deadman.recovered") == 1 and desk.audits("deadman.trigger") == 1
    assert desk.titles() == [TRIPPED, FRESH]
    assert "the newest bar ends 2026-03-02 15:35:00 UTC" in desk.rx.requests[1]["json"]["message"]


def test_two_web_workers_page_a_lagging_feed_once_and_its_recovery_once(desk: Desk, any_db_url: str) -> None:
    """55 s late: 55 .. 105 s old at the polls, past 100 s once a minute and never back to 40 s (fresh again);
    a second web worker (its own connections) checks after each poll too."""
    store = open_store(any_db_url, migrate=False)
    other = DeadmanWatcher(SimpleControlContext(store=store, clock=desk.clock, broker=desk.engine.broker), THRESHOLD_S,
                           "none", label="web-worker-2", calendar=desk.watcher.calendar)
    try:
        lag = timedelta(seconds=55)
        desk.publish(minute_of(START - lag) - MINUTE)
        outcomes = _lagging_feed(desk, lag, 36, [other])  # 15:30:15 .. 15:36:05
        assert [o for o in outcomes if o is not None] == [NONE_DONE], outcomes
        assert desk.audits("deadman.trigger") == 1 and desk.audits("deadman.recovered") == 0
        for _ in range(6):  # the feed catches up: one recovery between the two, then quiet
            desk.lagging(timedelta(0))
            assert desk.step() is None and other.tick() is None
        assert desk.audits("deadman.trigger") == 1 and desk.audits("deadman.recovered") == 1
        assert desk.titles() == [TRIPPED, FRESH]
    finally:
        store.dispose()


@pytest.mark.parametrize("desk", [timedelta(minutes=30)], indirect=True, ids=["late-bars-30min"])
def test_a_feed_25_minutes_behind_is_25_minutes_old(desk: Desk) -> None:
    """A source that takes bars up to 30 minutes late: a feed 25 minutes behind brings a bar at every new minute,
    on time, 25 minutes old; one incident, paged once, and the Health page agrees it is unhealthy."""
    lag = timedelta(minutes=25)
    desk.publish(minute_of(START - lag) - MINUTE)  # up to the 15:04 bar, ending 15:05:00
    outcomes = _lagging_feed(desk, lag, 24, [])
    assert outcomes == [NONE_DONE] + [None] * 23, outcomes
    assert check_market_data(desk.engine, desk.clock.now()).status == "unhealthy"
    assert desk.titles() == [TRIPPED]
    assert "the newest bar ends 2026-03-02 15:05:00 UTC" in desk.rx.requests[0]["json"]["message"]


def _stalled_before(desk: Desk, close: datetime) -> None:
    """Bars stop 12 minutes before `close` (the last one ends then); they arrive 5 s after it."""
    last_bar = close - timedelta(minutes=13)
    desk.added = {s: last_bar - timedelta(minutes=30) for s in ("SPY", "AAPL")}
    desk.publish(last_bar)
    desk.clock.advance(last_bar + MINUTE + timedelta(seconds=5) - desk.clock.now())
    assert run_recorded(desk.engine, "market", market_tick)


def _told_open(desk: Desk, when: datetime) -> str | None:
    """The engine alive and polling at `when`; the watcher's last broker answer is "open" (it is kept up to 60 s,
    so it says so just after the close): one watcher check."""
    desk.clock.advance(when - desk.clock.now())
    assert run_recorded(desk.engine, "market", market_tick)
    beat(desk.engine.store, when)
    desk.watcher._market_open = (True, time.monotonic())
    return desk.watcher.tick()


@pytest.mark.parametrize("after", [timedelta(seconds=30), timedelta(hours=6), timedelta(days=4, hours=19)],
                         ids=["after-close", "night", "saturday"])
def test_a_closed_market_never_trips_even_when_the_broker_said_open(desk: Desk, after: timedelta) -> None:
    _stalled_before(desk, CLOSE)
    before = CLOSE - timedelta(minutes=1)
    beat(desk.engine.store, before)
    view = view_at(desk, before)
    assert view.tripped and view.age_s == pytest.approx(11 * 60), view.reason  # in the session: 11 minutes stale
    when = CLOSE + after
    assert not XNYS.is_open_on_minute(pd.Timestamp(when))
    assert _told_open(desk, when) is None
    assert not view_at(desk, when).tripped
    assert desk.audits("deadman.trigger") == 0 and desk.titles() == []


def test_good_friday_is_closed(desk: Desk) -> None:
    """A holiday (exchange-calendars): Thursday's bars, stale since 12 minutes before its close, are not due."""
    friday = pd.Timestamp(date(2026, 4, 3))
    assert not XNYS.is_session(friday)
    _stalled_before(desk, XNYS.session_close(XNYS.date_to_session(friday, "previous")).to_pydatetime().astimezone(UTC))
    noon = datetime(2026, 4, 3, 16, 0, tzinfo=UTC)
    assert _told_open(desk, noon) is None
    assert not view_at(desk, noon).tripped
    assert desk.audits("deadman.trigger") == 0 and desk.titles() == []
