"""Health checks on SQLite and PostgreSQL: job lag judged against each job's own schedule, skipped runs
counted, stored history pruned by retention, and the report readers see."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.events import (
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
    JobSubmissionEvent,
)

from engine import jobs
from engine.clock import ManualClock
from engine.health.checks import check_jobs, job_lag_limits
from engine.health.recorder import HealthRecorder, update_cumulative_metrics
from engine.health.report import engines, health_report, history
from engine.runtime import build_context
from engine.settings import load_settings
from engine.store.models import EngineHeartbeat, HealthResult, JobRun

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def _ctx(url: str):  # type: ignore[no-untyped-def]
    return build_context(load_settings(database_url=url), with_source=False, migrate=True, clock=ManualClock(T0))


def _runs(ctx, job: str, starts: list[datetime], outcome: str = "ok", ms: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    with ctx.store.write() as session:
        session.add_all(JobRun(job=job, engine_id="e1", started_at=t, duration_ms=ms, outcome=outcome,
                               error="boom" if outcome == "error" else None) for t in starts)


def test_job_lag_is_judged_against_each_jobs_own_schedule(any_db_url: str) -> None:
    ctx = _ctx(any_db_url)
    now = T0
    # retention runs every 300 s and ran 120 s ago: healthy (it used to turn degraded after 120 s)
    _runs(ctx, "retention", [now - timedelta(seconds=420), now - timedelta(seconds=120)])
    # market runs every second; its last run 20 s ago is three periods and 10 s too late: degraded
    _runs(ctx, "market", [now - timedelta(seconds=s) for s in range(20, 80)])
    # account: two errors out of four runs in the window: unhealthy (half failed)
    _runs(ctx, "account", [now - timedelta(seconds=s) for s in (2, 4)])
    _runs(ctx, "account", [now - timedelta(seconds=s) for s in (6, 8)], outcome="error")
    checks = {c.name: c for c in check_jobs(ctx, now, {"retention": 300.0, "market": 1.0, "account": 2.0},
                                           scheduled_since=now - timedelta(hours=1))}
    assert checks["job retention"].status == "healthy", checks["job retention"]
    assert checks["job retention"].value == pytest.approx(120.0)
    assert job_lag_limits(1.0) == (13.0, 70.0)
    assert checks["job market"].status == "degraded", checks["job market"]
    assert checks["job account"].status == "unhealthy", checks["job account"]
    assert "2 errors" in checks["job account"].detail and "every 2 s" in checks["job account"].detail


def test_a_job_not_yet_due_after_start_up_is_not_lagging(any_db_url: str) -> None:
    ctx = _ctx(any_db_url)
    started = T0 - timedelta(seconds=60)  # retention's first run comes 300 s after start
    checks = {c.name: c for c in check_jobs(ctx, T0, {"retention": 300.0}, scheduled_since=started)}
    assert checks["job retention"].status == "healthy"
    much_later = T0 + timedelta(seconds=1000)  # 1060 s without a run > 3 * 300 + 10
    checks = {c.name: c for c in check_jobs(ctx, much_later, {"retention": 300.0}, scheduled_since=started)}
    assert checks["job retention"].status == "degraded"


def test_skipped_runs_are_counted_stored_and_graded(any_db_url: str) -> None:
    ctx = _ctx(any_db_url)
    recorder = HealthRecorder(ctx)
    # what APScheduler emits when a run is refused because the previous one still runs, or is too late
    for _ in range(6):
        recorder.on_event(JobSubmissionEvent(EVENT_JOB_MAX_INSTANCES, "planner", None, [T0]))
    recorder.on_event(JobExecutionEvent(EVENT_JOB_MISSED, "planner", None, T0))
    _runs(ctx, "planner", [T0 - timedelta(seconds=s) for s in (5, 10, 15)])
    assert recorder.flush_skipped(ctx) == 7
    assert recorder.flush_skipped(ctx) == 0  # flushed once
    checks = {c.name: c for c in check_jobs(ctx, T0, {"planner": 5.0})}
    planner = checks["job planner"]
    assert "3 runs, 0 errors, 7 skipped" in planner.detail, planner
    assert planner.status == "degraded"  # 7 of 10 scheduled runs skipped: >= 10 %, < 80 %
    totals = update_cumulative_metrics(ctx)
    assert totals["jobs"]["planner"]["skipped"] == 7
    assert totals["jobs"]["planner"]["count"] == 3
    again = update_cumulative_metrics(ctx)  # idempotent: rows already folded in are not counted twice
    assert again["jobs"]["planner"] == totals["jobs"]["planner"]


def test_health_job_stores_history_that_retention_prunes_and_readers_see(any_db_url: str) -> None:
    ctx = _ctx(any_db_url)
    clock: ManualClock = ctx.clock  # type: ignore[assignment]
    with ctx.store.write() as session:
        session.add(EngineHeartbeat(engine_id=ctx.engine_id, host="h", pid=1, started_at=T0, last_beat=T0,
                                    status="active"))
    recorder = HealthRecorder(ctx)
    recorder.intervals = {"market": 1.0}
    recorder.run(ctx)
    clock.advance(timedelta(seconds=10))
    recorder.run(ctx)
    with ctx.store.read() as session:
        stored = history(session, T0 - timedelta(minutes=1))
    assert len(stored["database"]) == 2
    assert {"broker latency", "reconciliation", "regime detector", "disk", "job market"} <= set(stored)
    report = health_report(ctx)
    names = [c["name"] for c in report["checks"]]
    assert names[:3] == ["engine heartbeat", "database", "health results"]
    assert names.count("database") == 1  # the live result replaces the stored one
    fresh = next(c for c in report["checks"] if c["name"] == "health results")
    assert fresh["status"] == "healthy" and fresh["value"] == pytest.approx(0.0)
    heartbeat = next(c for c in report["checks"] if c["name"] == "engine heartbeat")
    assert heartbeat["value"] == pytest.approx(10.0)  # measured now by the reader, not stored
    # seven hours later retention prunes both runs' rows
    clock.advance(jobs.JOB_RUN_RETENTION + timedelta(hours=1))
    jobs.retention(ctx)
    with ctx.store.read() as session:
        assert session.query(HealthResult).count() == 0
    stale = {c["name"]: c for c in health_report(ctx)["checks"]}
    assert stale["health results"]["status"] == "degraded"
    assert stale["engine heartbeat"]["status"] == "unhealthy"


def test_engines_table_judges_liveness_by_heartbeat_age_not_by_the_stored_status(any_db_url: str) -> None:
    ctx = _ctx(any_db_url)
    assert jobs.heartbeat(ctx) is True  # the leader, beating now
    with ctx.store.write() as session:  # a SIGKILLed engine: still "active" in its row, last beat 12 min ago
        session.add(EngineHeartbeat(engine_id="killed", host="h", pid=2, started_at=T0 - timedelta(hours=1),
                                    last_beat=T0 - timedelta(minutes=12), status="active"))
        session.add(EngineHeartbeat(engine_id="slow", host="h", pid=3, started_at=T0 - timedelta(hours=1),
                                    last_beat=T0 - timedelta(seconds=20), status="standby"))
    with ctx.store.read() as session:
        rows = {e["engine"]: e for e in engines(session, T0)}
    assert rows[ctx.engine_id]["liveness"] == "live" and rows[ctx.engine_id]["role"] == "active"
    assert rows[ctx.engine_id]["leader_since"] == T0
    assert rows["killed"]["liveness"] == "dead" and rows["killed"]["role"] == "gone"
    assert rows["slow"]["liveness"] == "stale"


def test_a_job_that_overruns_its_interval_has_its_skipped_runs_recorded(any_db_url: str) -> None:
    """Real APScheduler: a job every 0.2 s that takes 1 s has most of its runs refused (max instances)."""
    import time

    from sqlalchemy import func, select

    from engine.job_specs import JobSpec
    from engine.scheduler import EngineService

    settings = load_settings(database_url=any_db_url, tick_seconds=0.5, warmup_polls=0)
    ctx = build_context(settings, with_source=True, migrate=True)
    service = EngineService(ctx, blocking=False, extra_jobs=[JobSpec("slow", 0.2, lambda _c: time.sleep(1.0))])
    def runs(outcome: str) -> int:
        with ctx.store.read() as session:
            return int(session.scalar(select(func.count()).where(JobRun.job == "slow", JobRun.outcome == outcome)) or 0)

    started = time.monotonic()
    service.start()
    try:
        time.sleep(3.5)
        while runs("ok") < 2 and time.monotonic() - started < 15:  # a loaded machine may start the second run late
            time.sleep(0.2)
    finally:
        service.shutdown(actor="test", flatten=False)
    elapsed = time.monotonic() - started
    service.health.flush_skipped(ctx)
    ran, skipped = runs("ok"), runs("skipped")
    with ctx.store.read() as session:
        reason = session.scalar(select(JobRun.error).where(JobRun.job == "slow", JobRun.outcome == "skipped").limit(1))
    assert 2 <= ran <= elapsed + 1, (ran, elapsed)  # about one run per second: each takes 1 s, one at a time
    assert skipped >= 8, skipped  # the 0.2 s ticks in between were refused
    assert reason == "skipped: max instances"
    slow = next(c for c in check_jobs(ctx, ctx.clock.now(), {"slow": 0.2}) if c.name == "job slow")
    assert f"{skipped} skipped" in slow.detail and slow.status in ("degraded", "unhealthy")
    ctx.store.dispose()


def test_disk_is_measured_where_the_database_lives_not_in_the_current_directory(any_db_url: str) -> None:
    from pathlib import Path

    from sqlalchemy import text

    from engine.health.host_checks import check_disk

    ctx = _ctx(any_db_url)
    if any_db_url.startswith("sqlite"):
        expected = str(Path(any_db_url.removeprefix("sqlite:///")).resolve().parent)
    else:
        with ctx.store.read() as session:
            expected = session.scalar(text("SHOW data_directory"))
    disk = check_disk(ctx)
    assert f" {expected}: " in disk.detail, disk
    assert disk.value is not None and 0 < disk.value < 100


def test_broker_probe_times_the_broker_and_rates_its_errors_over_recent_probes(tmp_path) -> None:
    """Against an Alpaca URL where nothing listens (real HTTP to 127.0.0.1), and the paper broker."""
    from engine.health.checks import check_broker_probe

    url = f"sqlite:///{tmp_path / 'regimedesk.db'}"
    down = build_context(load_settings(database_url=url, broker="alpaca", alpaca_key_id="k", alpaca_secret_key="s",
                                       alpaca_base_url="http://127.0.0.1:9"), with_source=False, migrate=True)
    one_failure = check_broker_probe(down, [("healthy", 5.0)] * 4)
    assert one_failure.status == "degraded" and one_failure.value is None
    assert "1 of the last 5 probes failed" in one_failure.detail and "BrokerUnavailable" in one_failure.detail
    half_failed = check_broker_probe(down, [("healthy", 5.0), ("degraded", None), ("degraded", None)])
    assert half_failed.status == "unhealthy"  # 3 of 4 failed
    paper = build_context(load_settings(database_url=url), with_source=False, migrate=False)
    ok = check_broker_probe(paper, [])
    assert ok.status == "healthy" and ok.value is not None and ok.value > 0
    assert "0 of the last 1 probes failed" in ok.detail


def test_reconciliation_and_regime_checks_read_the_newest_rows(any_db_url: str) -> None:
    from engine.health.checks import check_reconciliation, check_regime
    from engine.store.models import ReconciliationRun, RegimeSnapshot

    ctx = _ctx(any_db_url)
    assert check_reconciliation(ctx, T0).status == "degraded"  # none yet
    assert check_regime(ctx).status == "degraded"
    diffs = [{"kind": "position", "key": "ALFA", "store": "5", "broker": "7", "value": "200.50"},
             {"kind": "cash", "key": "cash", "store": "1", "broker": "2", "value": "-10"}]
    with ctx.store.write() as session:
        session.add(ReconciliationRun(ts=T0 - timedelta(seconds=30), ok=True, differences=[]))
        session.add(ReconciliationRun(ts=T0 - timedelta(seconds=5), ok=False, differences=diffs))

        def snap(active: list[bool], confidence: float) -> RegimeSnapshot:
            return RegimeSnapshot(ts=T0, symbol="IDX", regime_id=2, regime_name="Bearish", confidence=confidence,
                                  raw_score=0.1, volatility_value=0.2, volatility_class="Low", trend_value=0.0,
                                  trend_class="Neutral", time_in_regime_s=60.0, is_transition=False,
                                  modules={"modules": [{"name": f"m{i}", "active": a} for i, a in enumerate(active)]})

        session.add(snap([True, True, True, False], 0.7))
    rec = check_reconciliation(ctx, T0)
    assert rec.status == "degraded" and rec.value == 2.0
    assert "2 difference(s) worth 210.50 USD (cash, position); 5 s ago" in rec.detail
    regime = check_regime(ctx)
    assert regime.status == "healthy" and regime.value == pytest.approx(0.7)
    assert "3 of 4 modules active" in regime.detail
    with ctx.store.write() as session:
        session.add(snap([False, False, False, False], 0.7))
    assert check_regime(ctx).status == "unhealthy"  # nothing active: the regime is not measured at all
    with ctx.store.write() as session:
        session.add(snap([True, False, False, False], 0.7))
    assert check_regime(ctx).status == "degraded"  # a quarter of the modules
