"""The engine's health job: runs every check, stores the results as history, counts skipped job runs.

The web never runs the checks per request: /api/health, /metrics and the Health page read what this
job stored (engine/health/report.py), plus the two facts only an outside observer can judge (is the
engine's heartbeat fresh, does the store answer).

It also keeps the cumulative figures /metrics exposes as counters and histograms (job durations,
orders, fills, gateway rejections): aggregated here every run into one engine_kv row, so a scrape
reads one row instead of scanning tables, and counters stay monotonic when retention prunes job_runs.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, EVENT_JOB_SUBMITTED, JobEvent
from apscheduler.schedulers.base import BaseScheduler
from sqlalchemy import delete, func, select

from engine.context import EngineContext
from engine.health.checks import engine_checks
from engine.notify import unhealthy_checks as notify_unhealthy
from engine.store.current_regime import current_regime
from engine.store.models import (
    AccountSnapshot,
    FillRow,
    HealthResult,
    JobRun,
    KeyValue,
    OrderRow,
)
from engine.store.writes import upsert_rows
from engine.trading.orders import OPEN_STATUSES

log = logging.getLogger(__name__)

HEALTH_JOB_SECONDS = 10.0
BROKER_PROBES_COUNTED = 12  # the error rate covers this probe and the 11 before it (about 2 minutes)
STOP_WATCH = "stop-watch"  # engine/scheduler.py's watch for a stop asked before the scheduler ran
INTERNAL_JOBS = frozenset({STOP_WATCH})  # scheduler plumbing: never graded on the Health page
SKIPS_BUFFERED = 10_000  # at most this many skipped runs wait for the next health job (a standby never flushes)
METRICS_KEY = "metrics.cumulative"
# a gap between two runs' scheduled times shorter than this is a late wake-up on a loaded machine, not a stall: its
# folded runs are not recorded (a 0.25 s job woken 0.6 s late would otherwise read as degraded under ordinary load)
STALL_MIN_GAP_S = 2.0
JOB_RUN_OVERLAP_IDS = 2_000  # job run ids below the newest folded that are looked for again if not seen yet
REJECTION_OVERLAP_IDS = 500  # order ids below the newest seen that are looked at again (a later commit of an earlier id)
UNCERTAIN_REGIME_ID = -1  # /metrics regime id when the engine has no regime (uncertain, CONSERVATIVE handling)
# job duration histogram buckets, seconds (the commands job takes ms, a warm-up or reconcile seconds)
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class SkippedRun:
    job: str
    # "max instances" (the previous run still running) | "missed" (too late to run) | "stalled" (the engine was
    # frozen or stalled past its run time: APScheduler's coalescing folded the runs into one, with no event of its own)
    reason: str
    at: datetime


class HealthRecorder:
    """One per engine process: an APScheduler listener for skipped runs and the health job itself."""

    def __init__(self, ctx: EngineContext) -> None:
        self.ctx = ctx
        self.intervals: dict[str, float] = {}
        self.scheduled_since: datetime | None = None  # when this engine became the active one
        self._lock = threading.Lock()
        self._skipped: list[SkippedRun] = []
        self._last_run_time: dict[str, datetime] = {}  # per job: the scheduled time of its last run submitted or refused

    def listen(self, scheduler: BaseScheduler) -> None:
        scheduler.add_listener(self.on_event, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED | EVENT_JOB_SUBMITTED)

    def on_event(self, event: JobEvent) -> None:
        """Called by APScheduler in its own thread: only buffer (no database work in the scheduler loop)."""
        job = str(event.job_id)
        if job in INTERNAL_JOBS:
            return  # the stop watch runs every 0.2 s and does nothing but look: its skips say nothing of health
        now = self.ctx.clock.now()
        skipped = [SkippedRun(job, "stalled", now)] * self._folded_runs(job, event)
        if event.code != EVENT_JOB_SUBMITTED:
            skipped.append(SkippedRun(job, "max instances" if event.code == EVENT_JOB_MAX_INSTANCES else "missed", now))
        if skipped:
            with self._lock:
                self._skipped.extend(skipped[:max(0, SKIPS_BUFFERED - len(self._skipped))])

    def _folded_runs(self, job: str, event: JobEvent) -> int:
        """Run times between this submission and the previous one that never ran: with coalesce=True, APScheduler
        runs only the newest of the run times that passed while the engine was frozen or stalled, and says
        nothing of the others. Counted from the gap between the two scheduled times and the job's interval."""
        times = getattr(event, "scheduled_run_times", None)  # a submission or a max-instances refusal only
        interval = self.intervals.get(job)
        if not times or not interval:
            return 0
        newest = max(times)
        with self._lock:
            previous = self._last_run_time.get(job)
            self._last_run_time[job] = newest
        if previous is None or (newest - previous).total_seconds() < STALL_MIN_GAP_S:
            return 0
        periods = int((newest - previous).total_seconds() / interval + 1e-6)  # a rescheduled run is never early
        return max(0, min(periods - len(times), SKIPS_BUFFERED))

    def flush_skipped(self, ctx: EngineContext) -> int:
        with self._lock:
            skipped, self._skipped = self._skipped, []
        if skipped:
            with ctx.store.write() as session:
                session.add_all(JobRun(job=s.job, engine_id=ctx.engine_id, started_at=s.at, duration_ms=0.0,
                                       outcome="skipped", error=f"skipped: {s.reason}") for s in skipped)
            log.warning("%d job run(s) skipped since the last health run (%s)", len(skipped),
                        ", ".join(sorted({f"{s.job}: {s.reason}" for s in skipped})))
        return len(skipped)

    def run(self, ctx: EngineContext) -> None:
        """The health job: flush skipped runs, run every check, store a row per check, update the counters."""
        if ctx.store_outage is not None:  # before any store access: an outage's page names the store
            ctx.store_outage.know_store(ctx)
        self.flush_skipped(ctx)
        now = ctx.clock.now()
        with ctx.store.read() as session:
            history = [(status, value) for status, value in session.execute(
                select(HealthResult.status, HealthResult.value).where(HealthResult.name == "broker latency")
                .order_by(HealthResult.ts.desc()).limit(BROKER_PROBES_COUNTED - 1))]
        results = engine_checks(ctx, now, self.intervals, self.scheduled_since, history)
        notify_unhealthy(ctx.store, results)  # engine/notify.py: a message when a check turns unhealthy
        with ctx.store.write() as session:
            session.add_all(HealthResult(ts=now, engine_id=ctx.engine_id, name=c.name[:64], status=c.status,
                                         detail=c.detail, value=c.value) for c in results)
        update_cumulative_metrics(ctx)


def _empty_hist() -> dict:
    return {"buckets": [0] * len(DURATION_BUCKETS), "sum": 0.0, "count": 0, "errors": 0, "skipped": 0}


def update_cumulative_metrics(ctx: EngineContext) -> dict:
    """Fold job runs recorded since the last call into cumulative histograms; count orders and fills."""
    with ctx.store.read() as session:
        row = session.get(KeyValue, METRICS_KEY)
        value: dict[str, Any] = dict(row.value) if row is not None else {"last_job_run_id": 0, "jobs": {}}
        last_id = int(value.get("last_job_run_id", 0))
        gaps = [int(i) for i in value.get("job_run_gaps", [])]
        new_runs = session.execute(select(JobRun.id, JobRun.job, JobRun.duration_ms, JobRun.outcome)
                                   .where((JobRun.id > last_id) | JobRun.id.in_(gaps) if gaps else JobRun.id > last_id)
                                   .order_by(JobRun.id)).all()
        orders = dict(session.execute(select(OrderRow.status, func.count()).group_by(OrderRow.status)).all())
        seen = dict(value.get("rejections_seen") or {})
        watch = [int(i) for i in seen.get("open_ids", [])]
        since = max(0, int(seen.get("last_order_id", 0)) - REJECTION_OVERLAP_IDS)
        looked_at = session.execute(select(OrderRow.id, OrderRow.status, OrderRow.reject_reason)
                                    .where(OrderRow.id > since if not watch else
                                           (OrderRow.id > since) | OrderRow.id.in_(watch))).all()
        fills = session.execute(select(func.count(), func.coalesce(func.sum(FillRow.qty), 0))).one()
        account = session.scalars(select(AccountSnapshot).order_by(AccountSnapshot.id.desc()).limit(1)).first()
        regime = current_regime(session)  # the regime the engine acts on
    jobs, last_id, gaps = fold_job_runs(value, new_runs)
    reasons, seen = fold_rejections(value, looked_at)
    value = {
        "last_job_run_id": last_id, "job_run_gaps": gaps, "jobs": jobs,
        "orders_by_status": {str(k): int(v) for k, v in orders.items()},
        "rejections_by_reason": reasons, "rejections_seen": seen,
        "fills": int(fills[0]), "filled_qty": float(fills[1] or 0),
        "equity": float(account.equity) if account is not None else None,
        "regime": ({"id": regime.regime_id if regime.regime_id is not None else UNCERTAIN_REGIME_ID,
                    "name": regime.regime_name or "uncertain", "confidence": regime.confidence,
                    "symbol": regime.symbol, "status": regime.status, "rule_id": regime.rule_regime_id}
                   if regime is not None else None),
        "updated_at": ctx.clock.now().isoformat(),
    }
    with ctx.store.write() as session:
        upsert_rows(session, KeyValue.__table__, [{"key": METRICS_KEY, "value": value, "updated_at": ctx.clock.now()}],
                    key=["key"])
    return value


def fold_job_runs(value: dict[str, Any], rows: Iterable[Any]) -> tuple[dict[str, dict], int, list[int]]:
    """Fold job runs (id, job, duration_ms, outcome) into the cumulative histograms, each run once.

    `rows`: the runs above the last id folded, and those whose ids were missing below it (`job_run_gaps`). On
    PostgreSQL ids come from a sequence at INSERT and job threads commit in any order, so a run with a lower id
    can commit after a higher one was folded (audit 3, defect 4). Ids missing within JOB_RUN_OVERLAP_IDS of the
    newest are kept and looked for again; a run found there is folded then. Returns (jobs, last id, gaps)."""
    jobs = {name: dict(h) for name, h in value.get("jobs", {}).items()}
    previous = last_id = int(value.get("last_job_run_id", 0))
    folded: set[int] = set()
    for run_id, job, duration_ms, outcome in rows:
        folded.add(int(run_id))
        last_id = max(last_id, int(run_id))
        hist = jobs.setdefault(job, _empty_hist())
        if outcome == "skipped":
            hist["skipped"] += 1
            continue
        seconds = duration_ms / 1000.0
        hist["buckets"] = [n + (1 if seconds <= bound else 0) for n, bound in zip(hist["buckets"], DURATION_BUCKETS,
                                                                                  strict=True)]
        hist["sum"] += seconds
        hist["count"] += 1
        hist["errors"] += 1 if outcome == "error" else 0
    floor = last_id - JOB_RUN_OVERLAP_IDS
    missing = {int(i) for i in value.get("job_run_gaps", [])} | set(range(max(previous, floor) + 1, last_id + 1))
    return jobs, last_id, sorted(i for i in missing - folded if i > floor)


def fold_rejections(value: dict[str, Any], rows: Iterable[Any]) -> tuple[dict[str, int], dict[str, Any]]:
    """Count each rejected order once, by id, into the monotonic per-reason counts (/metrics'
    gateway_rejections_total): never rebuilt from the orders rejected *now*, since the sync's guessed
    "broker: never received" is undone when the broker has the order after all, and a counter must not go down.

    `rows` (id, status, reject_reason): orders above the last id seen minus REJECTION_OVERLAP_IDS (an earlier
    id can commit later) and the orders still open at the last look (the broker may reject them later). Kept
    in `rejections_seen`: the newest id, the open ids, and the ids of the overlap already settled (counted,
    or final without a rejection). A store without that record (before this change) is counted from scratch,
    which gives what the old rebuild gave."""
    seen = value.get("rejections_seen")
    reasons = {str(k): int(v) for k, v in (value.get("rejections_by_reason") or {}).items()} if seen else {}
    seen = dict(seen or {})
    last_id = int(seen.get("last_order_id", 0))
    settled = {int(i) for i in seen.get("settled_ids", [])}
    open_ids: list[int] = []
    for order_id, status, reason in rows:
        last_id = max(last_id, int(order_id))
        if int(order_id) in settled:
            continue
        if status == "rejected":
            category = (reason or "unknown").split(":", 1)[0].strip()[:40] or "unknown"
            reasons[category] = reasons.get(category, 0) + 1
            settled.add(int(order_id))
        elif status in OPEN_STATUSES:
            open_ids.append(int(order_id))
        else:
            settled.add(int(order_id))
    floor = last_id - REJECTION_OVERLAP_IDS
    return reasons, {"last_order_id": last_id, "open_ids": sorted(open_ids),
                     "settled_ids": sorted(i for i in settled if i > floor)}


def prune_health_results(ctx: EngineContext, before: datetime) -> None:
    with ctx.store.write() as session:
        session.execute(delete(HealthResult).where(HealthResult.ts < before))
