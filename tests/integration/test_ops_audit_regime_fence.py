"""A fenced-out old leader stores no regime snapshot (audit 4, defect 1), on SQLite and PostgreSQL.

Two engine contexts share one store and one hand-moved clock: A leads and stores snapshots, the clock moves past
A's lease, B takes over; A's next regime step (a leader frozen past its lease and resumed) must write nothing, or
its late rows get higher ids than B's and current_regime (the newest id, read by the planner) goes back in time.
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from engine import jobs
from engine.clock import ManualClock
from engine.cycle import EngineCycle
from engine.lease import FencedOut, LeaseFence
from engine.regime_stage import RegimeStage
from engine.runtime import build_context
from engine.settings import load_settings
from engine.store.models import RegimeSnapshot


def _snapshots(store: Any) -> int:
    with store.read() as s:
        return int(s.scalar(select(func.count()).select_from(RegimeSnapshot)) or 0)


@pytest.fixture
def engines(any_db_url: str) -> Iterator[tuple[Any, Any, ManualClock, list[str]]]:
    settings = load_settings(database_url=any_db_url, warmup_polls=30)
    clock = ManualClock()
    a = build_context(settings, with_source=True, migrate=True, clock=clock)
    b = build_context(settings, with_source=True, migrate=False, clock=clock, store=a.store)
    lost: list[str] = []
    a.fence = LeaseFence(a.engine_id, on_lost=lambda: lost.append("a"))
    b.fence = LeaseFence(b.engine_id)
    yield a, b, clock, lost
    a.store.dispose()


def test_an_old_leader_stores_no_regime_snapshot_after_a_takeover(engines: Any) -> None:
    a, b, clock, lost = engines
    assert jobs.heartbeat(a) is True
    jobs.resume_source(a, 30)
    EngineCycle().startup(a)
    stage = RegimeStage()
    for _ in range(2):  # A leads: its snapshots are stored
        clock.advance(timedelta(seconds=a.settings.tick_seconds))
        assert stage.run(a, jobs.market_tick(a))
    stored_by_a = _snapshots(a.store)
    assert stored_by_a >= 2

    clock.advance(timedelta(seconds=jobs.LEASE_SECONDS + 1))
    assert jobs.heartbeat(b) is True  # takeover while A was frozen
    late = a.source.poll()  # A wakes up with the bars it had polled
    assert late.bars
    with pytest.raises(FencedOut):
        stage.run(a, late)
    assert _snapshots(a.store) == stored_by_a  # nothing written after the lease was taken
    assert lost == ["a"]  # and A stepped down
    assert stage.classifier is None  # rebuilt from the store should it lead again
