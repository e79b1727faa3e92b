"""Health checks: each turns facts from the store and the process into healthy / degraded / unhealthy.

Used by the Health page and the machine-readable /api/health endpoint.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, desc, func, select, text

from engine.context import EngineContext
from engine.health.account_check import check_broker_account
from engine.health.deadman import (
    ALPACA_BAR_SECONDS,
    market_cadence_s,
    market_data_since,
    recorded_cadence_s,
    session_open_at,
)
from engine.health.grades import DEGRADED, HEALTHY, UNHEALTHY, CheckResult, grade, worst
from engine.health.host_checks import check_disk, check_memory
from engine.health.liveness import age_text
from engine.health.market_checks import market_checks
from engine.health.notify_check import check_notifications
from engine.health.params_check import check_active_params
from engine.market import data_age as feed_age
from engine.market.exchange import MarketCalendar, calendar_for_settings
from engine.runtime_guards import GUARDS  # VAL010 / VAL011 state of this engine process
from engine.store.db_clock import is_wall_clock, reader_now
from engine.store.keyvalue import MARKET_DATA_KEY
from engine.store.models import BarRow, EngineHeartbeat, JobRun, KeyValue, RegimeSnapshot, TradingStateRow
from engine.trading.equity import read_marks
from engine.trading.reconcile import last_run
from engine.trading.risk_limits import active_limits

__all__ = ["DEGRADED", "HEALTHY", "UNHEALTHY", "CheckResult", "run_all", "worst"]


def check_heartbeat(ctx: EngineContext, now: datetime) -> CheckResult:
    """The newest active beat's age, by the database's clock for a wall clock (the engine writes its beat in the
    database's time, engine/store/db_clock.py), so a reader's skewed clock cannot call a dead engine healthy."""
    with ctx.store.read() as session:
        beat = session.scalars(select(EngineHeartbeat).where(EngineHeartbeat.status == "active")
                               .order_by(desc(EngineHeartbeat.last_beat)).limit(1)).first()
        beat_now = reader_now(session, now, wall=is_wall_clock(ctx.clock))
    if beat is None:
        return CheckResult("engine heartbeat", UNHEALTHY, "no active engine has ever beaten")
    age = max(0.0, (beat_now - beat.last_beat).total_seconds())
    return CheckResult("engine heartbeat", grade(age, 10, 30), f"last beat {age:.1f} s ago from {beat.engine_id}", age)


JOB_WINDOW = timedelta(minutes=5)  # errors and skipped runs are counted over this window
JOB_LAST_RUN_LOOKBACK = timedelta(minutes=60)  # a job silent for longer than this is not listed (one-off jobs)


def job_lag_limits(interval_s: float) -> tuple[float, float]:
    """Lag (seconds since a job's last run) graded against the job's own schedule: degraded after three
    missed periods plus 10 s of slack, unhealthy after ten plus a minute."""
    return 3 * interval_s + 10, 10 * interval_s + 60


def check_jobs(ctx: EngineContext, now: datetime, intervals: dict[str, float] | None = None,
               scheduled_since: datetime | None = None) -> list[CheckResult]:
    """Per job: errors and skipped runs in the last 5 minutes, and lag since its last run judged against
    the job's own interval (`intervals`, seconds; jobs without one, such as startup, are not lag-graded).
    `scheduled_since` is when this engine began running the jobs: lag is never counted from before it
    (a job on a 5-minute schedule has not run yet one minute after start-up, and that is fine).

    Skipped runs are rows with outcome "skipped": APScheduler refused a run because the previous one was
    still running (max instances) or the run came too late (misfire); see engine/health/recorder.py.
    Written with CASE so it runs on SQLite and PostgreSQL alike (PostgreSQL cannot cast a boolean to bigint).
    """
    intervals = intervals or {}
    is_error = case((JobRun.outcome == "error", 1), else_=0)
    is_skip = case((JobRun.outcome == "skipped", 1), else_=0)
    with ctx.store.read() as session:
        recent = {job: (int(runs or 0), int(errors or 0), int(skipped or 0)) for job, runs, errors, skipped in session.execute(
            select(JobRun.job, func.count() - func.sum(is_skip), func.sum(is_error), func.sum(is_skip))
            .where(JobRun.started_at >= now - JOB_WINDOW).group_by(JobRun.job)
        )}
        last_runs = dict(session.execute(
            select(JobRun.job, func.max(JobRun.started_at))
            .where(JobRun.started_at >= now - JOB_LAST_RUN_LOOKBACK, JobRun.outcome != "skipped").group_by(JobRun.job)
        ).all())
    results = []
    for job in sorted(set(recent) | set(last_runs) | set(intervals)):
        runs, errors, skipped = recent.get(job, (0, 0, 0))
        last = last_runs.get(job)
        interval = intervals.get(job)
        grades = [grade(errors / max(runs, 1), 0.01, 0.5)]
        if skipped:
            grades.append(grade(skipped / (runs + skipped), 0.1, 0.8))
        lag = max(0.0, (now - last).total_seconds()) if last is not None else None
        when = f"last {lag:.0f} s ago" if lag is not None else "no run in the last hour"
        if interval is not None:
            counted_from = max(t for t in (last, scheduled_since, now - JOB_LAST_RUN_LOOKBACK) if t is not None)
            grades.append(grade((now - counted_from).total_seconds(), *job_lag_limits(interval)))
        every = f"every {interval:g} s; " if interval is not None else ""
        detail = f"{every}{runs} runs, {errors} errors, {skipped} skipped in 5 min; {when}"
        results.append(CheckResult(f"job {job}", worst(grades), detail, lag))
    return results


def check_market_data(ctx: EngineContext, now: datetime) -> CheckResult:
    """A successful market job is not fresh data (a poll can succeed and bring nothing): while the market is
    open, the age of the newest data is graded too, against the source's cadence."""
    with ctx.store.read() as session:
        last_bar = session.scalar(select(func.max(BarRow.ts)))
        last_run = session.scalar(select(func.max(JobRun.started_at)).where(JobRun.job == "market",
                                                                             JobRun.outcome == "ok"))
        mark = session.get(KeyValue, MARKET_DATA_KEY)
        recorded = recorded_cadence_s(session)
    if last_bar is None:
        return CheckResult("market data", UNHEALTHY, "no bars stored yet")
    if last_run is None:
        return CheckResult("market data", DEGRADED, f"last bar {last_bar:%H:%M}; no successful market job yet")
    age = (now - last_run).total_seconds()
    period = ctx.settings.tick_seconds
    grades = [grade(age, 5 * period + 5, 30 * period + 30)]
    detail = f"last successful fetch {age:.1f} s ago; newest bar {last_bar:%Y-%m-%d %H:%M}"
    cadence = max(recorded, market_cadence_s(ctx.settings, ctx.source))
    arrived = _data_arrived_at(ctx, mark, last_bar)
    calendar = calendar_for_settings(ctx.settings, None)  # the source's exchange (XNYS with Alpaca), if any
    stamp = mark.value if mark is not None else None
    bar_s = feed_age.recorded_bar_s(stamp, ctx.settings)
    if bar_s is not None:  # a wall-clock feed (Alpaca): its bars' own times, within the sessions
        at = feed_age.wall_clock_data_at(last_bar, bar_s, feed_age.received_at(stamp))
        data_grade, data_detail = _wall_clock_data(calendar, now, at, cadence)
        grades.append(data_grade)
        detail += data_detail
    elif arrived is not None and calendar.exchange is not None and not calendar.is_regular_open(now):
        detail += "; market closed: data age not graded"
    elif arrived is not None:  # degraded 15 s past the cadence, unhealthy after 3 cadences + 1 min (Alpaca: 85, 270 s)
        # counted from no earlier than the session's open: at 09:30 the last bars are the previous session's
        since = market_data_since(arrived, session_open_at(calendar, now)) or arrived
        data_age = max(0.0, (now - since).total_seconds())
        grades.append(grade(data_age, cadence + 15, 3 * cadence + 60))
        detail += f"; newest data {age_text(max(0.0, (now - arrived).total_seconds()))} old"
        if since != arrived:
            detail += f", none since the session opened {age_text(data_age)} ago"
        detail += f" (new bars expected every {cadence:.0f} s)"
    return CheckResult("market data", worst(grades), detail, age)


def _wall_clock_data(calendar: MarketCalendar, now: datetime, at: datetime, cadence: float) -> tuple[str, str]:
    """Grade and words for a wall-clock feed whose newest data dates from `at` (its newest bar's end; a poll's
    arrival says nothing of a feed 25 minutes behind), against the cadence as below; outside the session by how
    long before the last close it ended, so Friday's final bars are healthy all weekend (market/data_age.py)."""
    opened, until = feed_age.due_window(calendar, now)
    age = feed_age.data_age_s(calendar, now, at)
    status = grade(age, cadence + 15, 3 * cadence + 60)
    if until < now:
        return status, (f"; market closed since {until:%Y-%m-%d %H:%M} UTC: newest data {age_text(age)} older "
                        f"than that close")
    detail = f"; newest data {age_text(max(0.0, (now - at).total_seconds()))} old"
    if opened is not None and at < opened:
        detail += f", none since the session opened {age_text(age)} ago"
    return status, detail + f" (new bars expected every {cadence:.0f} s)"


def _data_arrived_at(ctx: EngineContext, mark: KeyValue | None, last_bar: datetime) -> datetime | None:
    """When new bars last arrived: the market job's received-at mark; without one, with Alpaca (wall-clock
    bars, returned once finished), the newest bar's end; otherwise unknown (simulated times say nothing)."""
    if mark is not None and isinstance(mark.value, dict) and mark.value.get("ts"):
        at = datetime.fromisoformat(mark.value["ts"])
    elif str(getattr(ctx.settings.market_source, "value", ctx.settings.market_source)) == "alpaca":
        at = last_bar + timedelta(seconds=float(getattr(ctx.source, "bar_seconds", ALPACA_BAR_SECONDS)))
    else:
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def check_database(ctx: EngineContext) -> CheckResult:
    t0 = time.perf_counter()
    try:
        with ctx.store.read() as session:
            session.execute(text("SELECT 1"))
            session.get(TradingStateRow, 1)
    except Exception as exc:  # noqa: BLE001 - reported as unhealthy, with what failed
        return CheckResult("database", UNHEALTHY, f"{ctx.store.safe_url()}: {type(exc).__name__}: {exc}")
    ms = (time.perf_counter() - t0) * 1000
    return CheckResult("database", grade(ms, 200, 2000), f"{ctx.store.dialect} answered in {ms:.1f} ms", ms)


def check_broker(ctx: EngineContext) -> CheckResult:
    breaker_state = getattr(ctx.broker, "breaker_state", None)
    state = breaker_state() if callable(breaker_state) else "closed"
    status = {"closed": HEALTHY, "half-open": DEGRADED, "open": DEGRADED}.get(state, DEGRADED)
    return CheckResult("broker", status, f"{ctx.broker.name}: circuit {state}")


def check_risk_limits(ctx: EngineContext) -> list[CheckResult]:
    """How much of the daily-loss and drawdown-from-peak limits is used: degraded past half, unhealthy at the limit."""
    limits = active_limits(ctx.store)
    with ctx.store.read() as session:
        marks = read_marks(session)
    if marks.equity is None:
        return [CheckResult("risk limits", DEGRADED, "no account snapshot yet: limits cannot be measured")]
    results = []
    for name, reference, limit in (("daily loss", marks.start_of_day, limits.daily_loss_limit_pct),
                                   ("drawdown from peak", marks.peak, limits.max_drawdown_pct)):
        if reference is None or reference <= 0:
            results.append(CheckResult(f"risk: {name}", DEGRADED, "no reference equity recorded yet"))
            continue
        used = max(0.0, float((reference - marks.equity) / reference * 100))
        results.append(CheckResult(f"risk: {name}", grade(used, float(limit) / 2, float(limit)),
                                   f"{used:.2f}% of {reference:,.2f} (limit {limit}%)", used))
    return results


def check_broker_probe(ctx: EngineContext, recent: list[tuple[str, float | None]] | None = None) -> CheckResult:
    """Broker latency (one account request, timed) and error rate over this probe and the recent ones.

    `recent` is the stored history of this check, newest first: (status, latency ms or None on error).
    """
    t0 = time.perf_counter()
    error = None
    try:
        ctx.broker.get_account()
    except Exception as exc:  # noqa: BLE001 - a failed probe is the measurement
        error = f"{type(exc).__name__}: {exc}"[:200]
    ms = (time.perf_counter() - t0) * 1000
    history = [value for _status, value in (recent or [])]
    probes = [None if error else ms, *history]
    failures = sum(1 for v in probes if v is None)
    rate = failures / len(probes)
    status = worst([DEGRADED if error else grade(ms, 1000, 5000), grade(rate, 0.2, 0.5)])
    head = f"{ctx.broker.name}: failed: {error}" if error else f"{ctx.broker.name}: account in {ms:.0f} ms"
    detail = f"{head}; {failures} of the last {len(probes)} probes failed"
    return CheckResult("broker latency", status, detail, None if error else ms)


def check_reconciliation(ctx: EngineContext, now: datetime, interval_s: float = 60.0) -> CheckResult:
    """The newest store-versus-broker reconciliation: its differences and how old it is."""
    with ctx.store.read() as session:
        run = last_run(session)
    if run is None:
        return CheckResult("reconciliation", DEGRADED, "no reconciliation has run yet")
    age = max(0.0, (now - run.ts).total_seconds())
    count = len(run.differences or [])
    total = sum(abs(float(d.get("value", 0) or 0)) for d in run.differences or [])
    kinds = ", ".join(sorted({str(d.get("kind")) for d in run.differences or []}))
    grades = [HEALTHY if run.ok else DEGRADED, grade(age, *job_lag_limits(interval_s))]
    what = "store and broker agree" if run.ok else f"{count} difference(s) worth {total:,.2f} USD ({kinds})"
    return CheckResult("reconciliation", worst(grades), f"{what}; {age:.0f} s ago", float(count))


def check_regime(ctx: EngineContext) -> CheckResult:
    """The regime detector's newest output: how many indicator modules are active and its confidence."""
    with ctx.store.read() as session:
        snap = session.scalars(select(RegimeSnapshot).order_by(RegimeSnapshot.id.desc()).limit(1)).first()
    if snap is None:
        return CheckResult("regime detector", DEGRADED, "no regime classified yet")
    modules = (snap.modules or {}).get("modules") or []
    active = [m.get("name") for m in modules if m.get("active")]
    confidence = snap.confidence
    if confidence is None or math.isnan(confidence) or not 0 <= confidence <= 1:
        return CheckResult("regime detector", UNHEALTHY, f"confidence {confidence!r} is not a number in 0..1")
    share = len(active) / len(modules) if modules else 0.0
    status = UNHEALTHY if not active else DEGRADED if share < 0.5 else HEALTHY
    detail = (f"{snap.regime_name} (id {snap.regime_id}) at {snap.ts:%Y-%m-%d %H:%M}, confidence {confidence:.2f}; "
              f"{len(active)} of {len(modules)} modules active") + "".join(f"; {g}" for g in [GUARDS.summary()] if g)
    return CheckResult("regime detector", status, detail, confidence)


def engine_checks(ctx: EngineContext, now: datetime, intervals: dict[str, float] | None = None,
                  scheduled_since: datetime | None = None,
                  broker_history: list[tuple[str, float | None]] | None = None) -> list[CheckResult]:
    """Every check, as the engine's health job runs them (engine/health/recorder.py stores the results)."""
    intervals = intervals or {}
    return [check_heartbeat(ctx, now), check_market_data(ctx, now), check_database(ctx), check_broker(ctx),
            check_broker_account(ctx), check_broker_probe(ctx, broker_history),
            check_reconciliation(ctx, now, intervals.get("reconcile", 60.0)),
            check_regime(ctx), _drift_check(ctx), check_active_params(ctx), *check_risk_limits(ctx), check_memory(),
            check_disk(ctx),
            *check_jobs(ctx, now, intervals, scheduled_since), *_market_checks(ctx), check_notifications()]


def _drift_check(ctx: EngineContext) -> CheckResult:
    """Market drift on the engine's features (issue 16): engine/tuning/drift_job.py."""
    # local import: river and sklearn load only when the drift check runs
    from engine.tuning.drift_job import drift_check

    return drift_check(ctx)


def _market_checks(ctx: EngineContext) -> list[CheckResult]:
    """Market time (exchange vs workbook timezone) and Alpaca's request budget: engine/health/market_checks.py."""
    return market_checks(ctx)


def run_all(ctx: EngineContext, intervals: dict[str, float] | None = None) -> dict[str, Any]:
    """Run every check now (tools and tests; the web reads the stored results: engine/health/report.py)."""
    now = ctx.clock.now()
    checks = engine_checks(ctx, now, intervals)
    return {"status": worst([c.status for c in checks]), "checked_at": now.isoformat(),
            "checks": [asdict(c) for c in checks]}
