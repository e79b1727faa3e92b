"""The dead-man's switch, the banner's liveness and engine_alive age the engine's heartbeat by the database's clock
however far the reading machine's clock is off (engine/store/db_clock.py reader_now), on SQLite and PostgreSQL.

The web machine's clock is put off by a skew: its SystemClock reading (`now`) and everything else that reads this
machine's clock (db_clock.machine_now) run `skew_s` off the database's. The heartbeat is written in the database's
time, as a real engine writes it. Simulated time (a ManualClock engine and reader) still ages by the simulated clock.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.clock import ManualClock
from engine.health.deadman import evaluate
from engine.health.liveness import LIVE, STALE, engine_liveness
from engine.store import db_clock
from engine.store.db import Store
from engine.store.db_clock import server_now
from engine.store.migrate import open_store
from engine.store.models import EngineHeartbeat, TradingStateRow
from engine.trading.commands import engine_alive

THRESHOLD_S = 30.0  # the dead-man's switch: an engine silent longer than this is dead
DAY_S = 86_400.0


@pytest.fixture
def store(any_db_url: str):  # type: ignore[no-untyped-def]
    made = open_store(any_db_url, migrate=True)
    yield made
    made.dispose()


def _beat(store: Store, last_beat: datetime) -> None:
    with store.write() as s:
        s.query(EngineHeartbeat).delete()
        s.add(EngineHeartbeat(engine_id="eng-1", host="h", pid=1, started_at=last_beat - timedelta(hours=1),
                              last_beat=last_beat, status="active"))
        if s.get(TradingStateRow, 1) is None:
            s.add(TradingStateRow(id=1, state="ACTIVE", reason="test", changed_by="test", changed_at=last_beat))


def _judged(store: Store, now: datetime) -> tuple[str, bool, bool]:
    with store.read() as s:
        return (engine_liveness(s, now).status, evaluate(s, now, THRESHOLD_S, market_open=False).tripped,
                engine_alive(s, now))


@pytest.mark.parametrize(("beat_age_s", "skew_s"), [
    (120.0, 0.0), (120.0, -400.0), (120.0, +400.0), (120.0, -DAY_S),  # dead for 2 minutes
    (1.0, 0.0), (1.0, +400.0), (1.0, -400.0), (1.0, +DAY_S),  # beat a second ago
])
def test_the_heartbeat_is_aged_by_the_database_clock_whatever_the_web_machines_skew(
        store: Store, beat_age_s: float, skew_s: float, monkeypatch: pytest.MonkeyPatch) -> None:
    with store.read() as s:
        db_now = server_now(s)
    _beat(store, db_now - timedelta(seconds=beat_age_s))  # a real engine writes its beat in the database's time
    offset = timedelta(seconds=skew_s)
    monkeypatch.setattr(db_clock, "machine_now", lambda: datetime.now(UTC) + offset, raising=False)
    web_now = datetime.now(UTC) + offset  # what SystemClock().now() reads on the skewed web machine
    dead = beat_age_s > THRESHOLD_S
    # hand-computed: dead iff the beat is older than the threshold in the database's time, skew plays no part
    assert _judged(store, web_now) == ((STALE, True, False) if dead else (LIVE, False, True))


def test_simulated_time_ages_the_heartbeat_by_the_simulated_clock(store: Store) -> None:
    clock = ManualClock(datetime(2026, 1, 5, 14, 30, tzinfo=UTC))  # far from the database's clock, on purpose
    _beat(store, clock.now())  # a simulated engine writes its beat in simulated time
    assert _judged(store, clock.now()) == (LIVE, False, True)
    clock.advance(THRESHOLD_S + 90)
    assert _judged(store, clock.now()) == (STALE, True, False)


def test_a_caller_that_knows_its_clock_says_so(store: Store) -> None:
    with store.read() as s:
        db_now = server_now(s)
        far = db_now + timedelta(days=3)
        assert db_clock.reader_now(s, far, wall=False) == far  # simulated: as given
        got = db_clock.reader_now(s, far, wall=True)  # a wall clock three days off: the database's clock
        assert abs((got - db_now).total_seconds()) < 60
