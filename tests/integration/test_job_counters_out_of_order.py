"""/metrics' job counters count every job run once, also one whose id commits after a higher id was folded.

Audit 3, defect 4: update_cumulative_metrics folded `JobRun.id > last_job_run_id` only. On PostgreSQL ids come
from a sequence at INSERT and job threads commit in any order, so a run (an error, here) with a lower id that
committed after a higher one was folded was never counted: job_runs held 2 rows, 1 an error; the counters said
count=1 errors=0, for good.

PostgreSQL: the real interleaving (writer A inserts and holds its commit, writer B commits, the fold runs, A
commits, the fold runs again). SQLite has one writer at a time, so there the only way a lower id appears after a
higher one is an id given explicitly; the fold must count it the same way. Expected figures are counted by hand.
"""
from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.health.recorder import METRICS_KEY, update_cumulative_metrics
from engine.runtime import build_context
from engine.settings import load_settings
from engine.store.models import JobRun, KeyValue

DURATION_BUCKET_25MS = 2  # DURATION_BUCKETS = (0.005, 0.01, 0.025, ...): index of the 25 ms bound


def _run(job: str, outcome: str, ms: float, run_id: int | None = None) -> JobRun:
    extra = {"id": run_id} if run_id is not None else {}
    return JobRun(job=job, engine_id="e1", started_at=datetime.now(UTC), duration_ms=ms, outcome=outcome,
                  error="boom" if outcome == "error" else None, **extra)


def test_a_run_committed_after_a_higher_id_was_folded_is_counted_once(any_db_url: str) -> None:
    ctx = build_context(load_settings(database_url=any_db_url), with_source=False, migrate=True)
    try:
        update_cumulative_metrics(ctx)
        if ctx.store.dialect == "postgresql":
            a, b = Session(ctx.store.engine), Session(ctx.store.engine)
            try:
                a.add(_run("account", "error", 12.0))
                a.flush()  # id N taken from the sequence, not committed
                b.add(_run("account", "ok", 10.0))
                b.commit()  # id N+1 committed first
                first = update_cumulative_metrics(ctx)["jobs"]["account"]
                a.commit()
            finally:
                a.close()
                b.close()
        else:
            with ctx.store.read() as s:
                top = int(s.scalar(select(func.coalesce(func.max(JobRun.id), 0))) or 0)
            with ctx.store.write() as s:
                s.add(_run("account", "ok", 10.0, run_id=top + 2))
            first = update_cumulative_metrics(ctx)["jobs"]["account"]
            with ctx.store.write() as s:
                s.add(_run("account", "error", 12.0, run_id=top + 1))
        assert (first["count"], first["errors"]) == (1, 0)  # only B was visible at the first fold
        value = update_cumulative_metrics(ctx)
        hist = value["jobs"]["account"]
        assert (hist["count"], hist["errors"]) == (2, 1)
        assert abs(hist["sum"] - 0.022) < 1e-9  # 10 ms + 12 ms
        assert hist["buckets"][DURATION_BUCKET_25MS] == 2  # both runs are under 25 ms
        assert value["job_run_gaps"] == []  # nothing left to look for

        again = update_cumulative_metrics(ctx)["jobs"]["account"]  # nothing new: nothing counted twice
        assert (again["count"], again["errors"]) == (2, 1)
        with ctx.store.write() as s:
            s.add(_run("account", "skipped", 0.0))
        later = update_cumulative_metrics(ctx)["jobs"]["account"]
        assert (later["count"], later["errors"], later["skipped"]) == (2, 1, 1)
        with ctx.store.read() as s:  # the rows themselves, as counted by the store
            rows = s.execute(select(JobRun.outcome, func.count()).where(JobRun.job == "account")
                             .group_by(JobRun.outcome)).all()
            stored = s.get(KeyValue, METRICS_KEY)
        assert dict(rows) == {"ok": 1, "error": 1, "skipped": 1}
        assert stored is not None and stored.value["jobs"]["account"]["count"] == 2
    finally:
        ctx.store.dispose()

