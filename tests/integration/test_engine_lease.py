"""Exactly one active engine: a second one waits as a standby and takes over when the first stops."""
from __future__ import annotations

import time

from sqlalchemy import select

from engine.runtime import build_context
from engine.scheduler import EngineService
from engine.settings import load_settings
from engine.store.models import EngineHeartbeat, JobRun


def _wait(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, "condition not reached in time"
        time.sleep(0.2)


def test_second_engine_is_standby_until_the_first_stops(any_db_url: str) -> None:
    settings = load_settings(database_url=any_db_url, tick_seconds=0.25, warmup_polls=50)
    first = EngineService(build_context(settings, with_source=True, migrate=True), blocking=False)
    second = EngineService(build_context(settings, with_source=True, migrate=True), blocking=False)
    first.start()
    second.start()
    try:
        time.sleep(2.0)
        assert first.is_leader and not second.is_leader
        with first.ctx.store.read() as session:
            statuses = dict(session.execute(select(EngineHeartbeat.engine_id, EngineHeartbeat.status)).all())
            market_runs = set(session.scalars(select(JobRun.engine_id).where(JobRun.job == "market")))
        assert statuses == {first.ctx.engine_id: "active", second.ctx.engine_id: "standby"}
        assert market_runs == {first.ctx.engine_id}  # the standby runs no trading job
        first.shutdown(actor="test")
        _wait(lambda: second.is_leader, timeout=10)

        def second_ran_market() -> bool:
            with second.ctx.store.read() as session:  # a new session per poll: SQLite reads see one snapshot
                return session.scalar(select(JobRun.id).where(JobRun.engine_id == second.ctx.engine_id,
                                                              JobRun.job == "market").limit(1)) is not None

        _wait(second_ran_market, timeout=10)
    finally:
        first.shutdown(actor="test")
        second.shutdown(actor="test")


def test_a_beat_after_the_release_does_not_take_the_lease_back(any_db_url: str) -> None:
    """The race behind a slow failover: a stopping engine's last heartbeat ran after release_lease
    and renewed the lease for another LEASE_SECONDS, so the standby waited that long."""
    from engine import jobs
    from engine.store.models import EngineLease

    ctx = build_context(load_settings(database_url=any_db_url), with_source=False, migrate=True)
    assert jobs.heartbeat(ctx) is True
    jobs.release_lease(ctx)
    assert jobs.heartbeat(ctx, stopping=lambda: True) is False
    with ctx.store.read() as session:
        lease = session.get(EngineLease, 1)
        beat = session.get(EngineHeartbeat, ctx.engine_id)
        assert lease is not None and lease.lease_until <= ctx.clock.now()  # still released
        assert beat is not None and beat.status == "stopped"
    ctx.store.dispose()


def test_a_standby_takes_over_the_moment_a_crashed_leaders_lease_lapses(any_db_url: str) -> None:
    """The leader stops beating without releasing its lease (as a SIGKILL would leave it): the standby
    beats again at the lapse itself (a one-off job at the lapse time), not only on its next 2 s beat."""
    from datetime import UTC, datetime

    from engine import jobs
    from engine.store.models import EngineLease

    settings = load_settings(database_url=any_db_url, tick_seconds=0.5, warmup_polls=20)
    first = EngineService(build_context(settings, with_source=True, migrate=True), blocking=False)
    second = EngineService(build_context(settings, with_source=True, migrate=True), blocking=False)
    first.start()
    second.start()
    try:
        _wait(lambda: first.is_leader and second.ctx.engine_id in _statuses(second)
              and second.scheduler.get_job("lease-lapse") is not None, timeout=20)
        first.scheduler.shutdown(wait=False)  # the leader stops beating; its lease stays in the store
        # only the lapse beat is left to the standby: its regular 2 s beat could otherwise take over as well
        second.scheduler.pause_job("heartbeat")
        crashed = datetime.now(UTC)
        with second.ctx.store.read() as session:
            lapse = session.get(EngineLease, 1).lease_until  # type: ignore[union-attr]
        expected = (lapse - crashed).total_seconds()
        assert expected <= jobs.LEASE_SECONDS
        # the margin is for a loaded machine's scheduling delay; without the lapse beat no takeover comes at all
        _wait(lambda: second.is_leader, timeout=expected + 5)
        took = (datetime.now(UTC) - crashed).total_seconds()
        assert took >= expected - 0.2, (took, expected)  # not before the lease lapsed
    finally:
        first.shutdown(actor="test")
        second.shutdown(actor="test")


def _statuses(service: EngineService) -> dict[str, str]:
    with service.ctx.store.read() as session:
        return {k: v for k, v in session.execute(select(EngineHeartbeat.engine_id, EngineHeartbeat.status)).all()
                if v == "standby"}


def test_a_new_leader_runs_no_trading_job_before_its_start_up_ends(any_db_url: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Winning the lease and running the start-up steps (resume the market, reconcile the trading state)
    happen in one beat; the market job (every 0.25 s here) must not poll the source meanwhile: it did, and
    the simulated market's resume broke ("could not broadcast ...") after takeovers in CI. The start-up's
    market step is slowed to 1.5 s so that several market ticks fall inside it."""
    from datetime import timedelta

    from engine import jobs

    real_resume = jobs.resume_source

    def slow_resume(ctx, warmup_polls):  # type: ignore[no-untyped-def]
        time.sleep(1.5)
        real_resume(ctx, warmup_polls)

    monkeypatch.setattr(jobs, "resume_source", slow_resume)
    settings = load_settings(database_url=any_db_url, tick_seconds=0.25, warmup_polls=20)
    first = EngineService(build_context(settings, with_source=True, migrate=True), blocking=False)
    first.start()
    second = EngineService(build_context(settings, with_source=True, migrate=True), blocking=False)
    second.start()
    try:
        _wait(lambda: first.is_leader and not second.is_leader)
        first.shutdown(actor="test")
        _wait(lambda: second.is_leader, timeout=15)

        def second_runs(job: str) -> list[tuple]:
            with second.ctx.store.read() as session:
                return list(session.execute(select(JobRun.started_at, JobRun.duration_ms, JobRun.outcome).where(
                    JobRun.engine_id == second.ctx.engine_id, JobRun.job == job)).all())

        _wait(lambda: len(second_runs("market")) >= 3, timeout=15)
        (start_at, start_ms, outcome), = second_runs("startup")
        assert outcome == "ok" and start_ms >= 1500
        startup_end = start_at + timedelta(milliseconds=start_ms)
        first_market = min(r[0] for r in second_runs("market"))
        assert first_market >= startup_end, (first_market, startup_end)
        assert all(r[2] == "ok" for r in second_runs("market"))
    finally:
        first.shutdown(actor="test")
        second.shutdown(actor="test")


def test_a_beat_during_the_stop_keeps_the_leadership_so_the_graceful_shutdown_runs(any_db_url: str) -> None:
    """CI found it: a SIGTERM that landed while a heartbeat ran made that beat report "not the leader" (it must
    not renew once the stop began), and shutdown() then skipped the graceful shutdown: the open order stayed
    open at the broker and the store stayed behind it. The beat that finds the stop under way changes nothing."""
    from engine.store.models import CommandRow
    from engine.trading import state as trading_state
    from engine.trading.state import TradingState
    from tests.browser.test_trd001_kill_switch_dialog import rest_orders

    settings = load_settings(database_url=any_db_url, tick_seconds=0.5, warmup_polls=20, autotrade=False)
    service = EngineService(build_context(settings, with_source=True, migrate=True), blocking=False)
    service.start()
    try:
        _wait(lambda: service.leading(), timeout=20)
        rest_orders(service.ctx, 3, "beat-stop")
        service.request_stop()
        service._beat()  # the beat that runs after the signal
        assert service.is_leader
        service.shutdown(actor="test")
        assert service.ctx.broker.list_open_orders() == []
        with service.ctx.store.read() as session:
            assert trading_state.current(session).state is TradingState.STOPPED
            kinds = [(c.kind, c.status) for c in session.scalars(select(CommandRow))]
        assert kinds == [("shutdown", "done")]
    finally:
        service.shutdown(actor="test")
        service.ctx.store.dispose()
