"""The engine lease and liveness are judged by the database's clock, so a machine whose clock is off does not
fence out a healthy leader, delay a takeover or make a live engine look dead (engine/store/db_clock.py).

Each engine runs on a wall clock shifted by a fixed offset (a machine whose clock is wrong), on the real SQLite
and PostgreSQL stores. Every wait is bounded.
"""
from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from engine import jobs
from engine.clock import ManualClock
from engine.context import EngineContext
from engine.health.liveness import engine_down_refusal
from engine.lease import LeaseFence, check_fence
from engine.runtime import build_context
from engine.settings import load_settings
from engine.store.models import EngineHeartbeat, EngineLease
from engine.trading import commands


class SkewedWallClock:
    """This machine's wall clock, `offset_s` off the true time (NTP broken or not yet synced)."""

    wall = True

    def __init__(self, offset_s: float) -> None:
        self.offset = timedelta(seconds=offset_s)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


@pytest.fixture
def engine_on(any_db_url: str):  # type: ignore[no-untyped-def]
    """engine_on(offset_s): an engine context (with its fence) on a clock that many seconds off; one store."""
    settings = load_settings(database_url=any_db_url)
    made: list[EngineContext] = []

    def make(offset_s: float, clock: object | None = None) -> EngineContext:
        store = made[0].store if made else None
        ctx = build_context(settings, with_source=False, migrate=not made, store=store,
                            clock=clock or SkewedWallClock(offset_s))  # type: ignore[arg-type]
        ctx.fence = LeaseFence(ctx.engine_id)
        made.append(ctx)
        return ctx

    yield make
    if made:
        made[0].store.dispose()


def _holder(ctx: EngineContext) -> tuple[str, int]:
    with ctx.store.read() as s:
        lease = s.get(EngineLease, 1)
        assert lease is not None
        return lease.holder, lease.epoch


def _fenced_write_ok(ctx: EngineContext) -> bool:
    with ctx.store.write() as s:
        return check_fence(s, ctx) is not None


def test_a_standby_whose_clock_runs_ahead_leaves_a_healthy_leader_alone(engine_on) -> None:  # type: ignore[no-untyped-def]
    leader, standby = engine_on(0.0), engine_on(+15.0)
    assert jobs.heartbeat(leader) is True
    epoch = _holder(leader)[1]
    time.sleep(0.2)
    assert jobs.heartbeat(standby) is False  # the leader renewed moments ago: its lease holds by the database
    assert jobs.heartbeat(leader) is True
    assert _holder(leader) == (leader.engine_id, epoch)  # no takeover happened in between
    assert _fenced_write_ok(leader)


def test_a_leader_whose_clock_runs_behind_keeps_its_lease(engine_on) -> None:  # type: ignore[no-untyped-def]
    leader, standby = engine_on(-15.0), engine_on(0.0)
    assert jobs.heartbeat(leader) is True
    assert _fenced_write_ok(leader)  # its own renewal is not already lapsed by its own clock
    assert jobs.heartbeat(standby) is False
    assert jobs.heartbeat(leader) is True and _fenced_write_ok(leader)
    assert _holder(leader)[0] == leader.engine_id


def test_a_slow_standby_takes_over_within_the_lease_after_the_leader_dies(engine_on, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    lease_s = 2.0  # real seconds: the database's clock runs in real time
    monkeypatch.setattr(jobs, "LEASE_SECONDS", lease_s)
    dead, standby = engine_on(0.0), engine_on(-15.0)
    assert jobs.heartbeat(dead) is True
    last_renewal = time.monotonic()  # the leader is SIGKILLed here: it never beats again
    leader, lapse = jobs.heartbeat_lease(standby)
    assert leader is False and lapse is not None
    # the lapse comes back in the standby's own clock, which the scheduler sleeps against (_beat_at_lapse)
    assert 0.0 < (lapse - standby.clock.now()).total_seconds() <= lease_s
    took_after = None
    while time.monotonic() - last_renewal < lease_s + 5.0:  # bounded: old code needed 17 s here
        if jobs.heartbeat(standby):
            took_after = time.monotonic() - last_renewal
            break
        time.sleep(0.05)
    assert took_after is not None, "the standby never took the lapsed lease"
    assert lease_s - 0.3 <= took_after <= lease_s + 1.0, took_after
    assert _holder(standby)[0] == standby.engine_id and _fenced_write_ok(standby)


@pytest.mark.parametrize("web_offset_s", [-6.0, 0.0, +6.0])
def test_engine_alive_ignores_clock_skew_between_engine_and_web(engine_on, web_offset_s: float) -> None:  # type: ignore[no-untyped-def]
    engine = engine_on(-6.0)
    web = SkewedWallClock(web_offset_s)
    assert jobs.heartbeat(engine) is True
    with engine.store.read() as s:
        assert commands.engine_alive(s, web.now()) is True
    # the resume/pause guard and the banner (engine/health/liveness.py) age the beat by the database's clock too
    assert engine_down_refusal(engine.store, web.now(), "resume") is None
    time.sleep(0.6)  # the engine dies: with a 0.5 s staleness it is down, whichever way the web's clock is off
    with engine.store.read() as s:
        assert commands.engine_alive(s, web.now(), stale_after_s=0.5) is False


def test_simulated_time_still_drives_the_lease(engine_on) -> None:  # type: ignore[no-untyped-def]
    """Tests and backtests move a ManualClock: there the lease and the heartbeat follow it, not the database."""
    clock = ManualClock()
    a, b = engine_on(0.0, clock), engine_on(0.0, clock)
    assert jobs.heartbeat(a) is True and jobs.heartbeat(b) is False
    with a.store.read() as s:
        assert s.scalar(select(EngineHeartbeat.last_beat).where(EngineHeartbeat.engine_id == a.engine_id)) == clock.now()
        assert commands.engine_alive(s, clock.now()) is True
    clock.advance(jobs.LEASE_SECONDS + 1)
    assert jobs.heartbeat(b) is True
    with a.store.read() as s:
        assert commands.engine_alive(s, clock.now()) is True  # b beat at the new simulated time


def test_a_skewed_engine_clock_is_reported(engine_on, caplog) -> None:  # type: ignore[no-untyped-def]
    engine = engine_on(+15.0)
    with caplog.at_level(logging.WARNING, logger="engine.store.db_clock"):
        jobs.heartbeat(engine)
        jobs.heartbeat(engine)  # reported once, not on every beat
    skew = [r for r in caplog.records if "clock" in r.getMessage() and "database" in r.getMessage()]
    assert len(skew) == 1 and "15" in skew[0].getMessage()


@pytest.mark.parametrize("offset_s, status", [(0.0, "healthy"), (+5.0, "degraded"), (-5.0, "degraded"),
                                              (+45.0, "unhealthy")])
def test_the_health_checks_show_the_engine_clock_skew(engine_on, offset_s: float, status: str) -> None:  # type: ignore[no-untyped-def]
    """The engine's skew against the database's clock is a health check (the Health page and /metrics read the
    stored checks): degraded past 2 s, unhealthy past 30 s; its value is the skew in seconds."""
    # local import: the check under test, read after the beat that measures the skew
    from engine.health.market_checks import check_clock

    engine = engine_on(offset_s)
    assert check_clock(engine) == []  # nothing measured before the first beat
    jobs.heartbeat(engine)
    [result] = check_clock(engine)
    assert result.name == "clock" and result.status == status, result
    assert result.value is not None and abs(result.value - offset_s) < 1.0  # the database is this machine's clock
    if offset_s:
        assert ("ahead of" if offset_s > 0 else "behind") in result.detail
