"""/api/health and /metrics ("engine heartbeat", engine/health/report.py health_report) and the Health page's engines
table (engines) age the engine's heartbeat by the database's clock, as the banner does, however far the reading
machine's clock is off; on SQLite and PostgreSQL.

The web machine's clock is put off by a skew: its wall clock (`SkewedClock`, marked wall like SystemClock) and every
other reading of this machine's clock (db_clock.machine_now) run `skew_s` off the database's. The beat and the lease
are written in the database's time, as a real engine writes them. A simulated clock still ages by itself.
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from engine.clock import ManualClock
from engine.health.checks import check_heartbeat
from engine.health.report import engines, health_report
from engine.runtime import build_context
from engine.settings import load_settings
from engine.store import db_clock
from engine.store.db_clock import server_now
from engine.store.models import EngineHeartbeat, EngineLease

DAY_S = 86_400.0
SLACK_S = 3.0  # the test's own run time between writing the beat and reading it (never near a grade boundary)


class SkewedClock:
    """This machine's wall clock, `skew_s` off the database's (SystemClock on a machine with bad time sync)."""

    wall = True

    def __init__(self, skew_s: float) -> None:
        self.offset = timedelta(seconds=skew_s)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


def _context(url: str, clock: Any) -> Any:
    return build_context(load_settings(database_url=url), with_source=False, migrate=True, clock=clock)


@pytest.fixture
def ctx_for(any_db_url: str) -> Iterator[Any]:
    made: list[Any] = []

    def make(clock: Any) -> Any:
        made.append(_context(any_db_url, clock))
        return made[-1]

    yield make
    for ctx in made:
        ctx.store.dispose()


def _beat(ctx: Any, last_beat: datetime, lease_until: datetime) -> None:
    with ctx.store.write() as s:
        s.merge(EngineHeartbeat(engine_id="eng-1", host="h", pid=1, started_at=last_beat - timedelta(hours=1),
                                last_beat=last_beat, status="active"))
        s.merge(EngineLease(id=1, holder="eng-1", lease_until=lease_until, epoch=1))


# hand-computed grades: check "engine heartbeat" healthy < 10 s <= degraded < 30 s <= unhealthy;
# engines table live < 10 s <= stale < 30 s <= dead; the lease, valid 10 s past the beat, is held (active) only then
@pytest.mark.parametrize(("beat_age_s", "skew_s", "status", "liveness", "role"), [
    (25.0, -20.0, "degraded", "stale", "gone"),  # audit: a 20 s slow web read 5 s, healthy and live
    (1.0, +40.0, "healthy", "live", "active"),  # audit: a 40 s fast web read 41 s, unhealthy (503) and dead
    (1.0, -400.0, "healthy", "live", "active"),
    (120.0, +400.0, "unhealthy", "dead", "gone"),
    (1.0, +DAY_S, "healthy", "live", "active"),
    (120.0, -DAY_S, "unhealthy", "dead", "gone"),
])
def test_the_heartbeat_is_aged_by_the_database_clock_whatever_the_web_machines_skew(
        ctx_for: Any, monkeypatch: pytest.MonkeyPatch, beat_age_s: float, skew_s: float, status: str,
        liveness: str, role: str) -> None:
    clock = SkewedClock(skew_s)
    ctx = ctx_for(clock)
    with ctx.store.read() as s:
        db_now = server_now(s)
    beat_at = db_now - timedelta(seconds=beat_age_s)
    _beat(ctx, beat_at, beat_at + timedelta(seconds=10))
    monkeypatch.setattr(db_clock, "machine_now", clock.now, raising=False)

    report = health_report(ctx)  # what /api/health and /metrics serve
    heartbeat = next(c for c in report["checks"] if c["name"] == "engine heartbeat")
    assert heartbeat["status"] == status
    assert beat_age_s <= heartbeat["value"] < beat_age_s + SLACK_S
    with ctx.store.read() as s:
        row = engines(s, clock.now())[0]  # the Health page's engines table
    assert (row["engine"], row["liveness"], row["role"]) == ("eng-1", liveness, role)
    assert beat_age_s <= row["age_s"] < beat_age_s + SLACK_S


def test_the_engines_own_health_job_ages_its_beat_by_the_database_clock(
        ctx_for: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = SkewedClock(+45.0)  # the engine's machine runs 45 s fast; its beat (database time) is 2 s old
    ctx = ctx_for(clock)
    with ctx.store.read() as s:
        db_now = server_now(s)
    _beat(ctx, db_now - timedelta(seconds=2), db_now + timedelta(seconds=8))
    monkeypatch.setattr(db_clock, "machine_now", clock.now, raising=False)
    result = check_heartbeat(ctx, clock.now())
    assert result.status == "healthy" and 2.0 <= (result.value or 0.0) < 2.0 + SLACK_S


def test_simulated_time_still_ages_the_heartbeat_by_the_simulated_clock(ctx_for: Any) -> None:
    clock = ManualClock(datetime(2026, 1, 5, 14, 30, tzinfo=UTC))  # far from the database's clock, on purpose
    ctx = ctx_for(clock)
    _beat(ctx, clock.now(), clock.now() + timedelta(seconds=10))  # a simulated engine beats in simulated time
    clock.advance(4)
    assert (check_heartbeat(ctx, clock.now()).status, check_heartbeat(ctx, clock.now()).value) == ("healthy", 4.0)
    with ctx.store.read() as s:
        row = engines(s, clock.now())[0]
    assert (row["liveness"], row["role"], row["age_s"]) == ("live", "active", 4.0)
    clock.advance(40)  # 44 s after the beat, the lease lapsed 34 s ago
    assert check_heartbeat(ctx, clock.now()).status == "unhealthy"
    with ctx.store.read() as s:
        row = engines(s, clock.now())[0]
    assert (row["liveness"], row["role"], row["age_s"]) == ("dead", "gone", 44.0)
