"""Health checks: each turns facts from the store and the process into healthy / degraded / unhealthy.

Used by the Health page and the machine-readable /api/health endpoint.
"""
from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import psutil
from sqlalchemy import desc, func, select, text

from engine.context import EngineContext
from engine.store.models import BarRow, EngineHeartbeat, JobRun, TradingStateRow

HEALTHY, DEGRADED, UNHEALTHY = "healthy", "degraded", "unhealthy"
_RANK = {HEALTHY: 0, DEGRADED: 1, UNHEALTHY: 2}


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: str
    detail: str
    value: float | None = None


def worst(statuses: list[str]) -> str:
    return max(statuses, key=_RANK.__getitem__) if statuses else HEALTHY


def _grade(value: float, degraded_at: float, unhealthy_at: float) -> str:
    return UNHEALTHY if value >= unhealthy_at else DEGRADED if value >= degraded_at else HEALTHY


def check_heartbeat(ctx: EngineContext, now: datetime) -> CheckResult:
    with ctx.store.read() as session:
        beat = session.scalars(select(EngineHeartbeat).where(EngineHeartbeat.status == "active")
                               .order_by(desc(EngineHeartbeat.last_beat)).limit(1)).first()
    if beat is None:
        return CheckResult("engine heartbeat", UNHEALTHY, "no active engine has ever beaten")
    age = (now - beat.last_beat).total_seconds()
    return CheckResult("engine heartbeat", _grade(age, 10, 30), f"last beat {age:.1f} s ago from {beat.engine_id}", age)


def check_jobs(ctx: EngineContext, now: datetime) -> list[CheckResult]:
    """Per job: errors in the last 5 minutes and lag since its last run."""
    since = now - timedelta(minutes=5)
    with ctx.store.read() as session:
        rows = session.execute(
            select(JobRun.job, func.count(), func.sum(func.cast(JobRun.outcome == "error", JobRun.id.type)),
                   func.max(JobRun.started_at))
            .where(JobRun.started_at >= since).group_by(JobRun.job)
        ).all()
    results = []
    for job, runs, errors, last in rows:
        errors = int(errors or 0)
        lag = (now - last).total_seconds()
        status = worst([_grade(errors / max(runs, 1), 0.01, 0.5), _grade(lag, 120, 600)])
        results.append(CheckResult(f"job {job}", status, f"{runs} runs, {errors} errors in 5 min; last {lag:.0f} s ago",
                                   lag))
    return results


def check_market_data(ctx: EngineContext, now: datetime) -> CheckResult:
    with ctx.store.read() as session:
        last_bar = session.scalar(select(func.max(BarRow.ts)))
        last_run = session.scalar(select(func.max(JobRun.started_at)).where(JobRun.job == "market",
                                                                             JobRun.outcome == "ok"))
    if last_bar is None:
        return CheckResult("market data", UNHEALTHY, "no bars stored yet")
    if last_run is None:
        return CheckResult("market data", DEGRADED, f"last bar {last_bar:%H:%M}; no successful market job yet")
    age = (now - last_run).total_seconds()
    period = ctx.settings.tick_seconds
    return CheckResult("market data", _grade(age, 5 * period + 5, 30 * period + 30),
                       f"last successful fetch {age:.1f} s ago; newest bar {last_bar:%Y-%m-%d %H:%M}", age)


def check_database(ctx: EngineContext) -> CheckResult:
    t0 = time.perf_counter()
    try:
        with ctx.store.read() as session:
            session.execute(text("SELECT 1"))
            session.get(TradingStateRow, 1)
    except Exception as exc:  # noqa: BLE001 - reported as unhealthy, with what failed
        return CheckResult("database", UNHEALTHY, f"{ctx.store.safe_url()}: {type(exc).__name__}: {exc}")
    ms = (time.perf_counter() - t0) * 1000
    return CheckResult("database", _grade(ms, 200, 2000), f"{ctx.store.dialect} answered in {ms:.1f} ms", ms)


def check_broker(ctx: EngineContext) -> CheckResult:
    breaker_state = getattr(ctx.broker, "breaker_state", None)
    state = breaker_state() if callable(breaker_state) else "closed"
    status = {"closed": HEALTHY, "half-open": DEGRADED, "open": DEGRADED}.get(state, DEGRADED)
    return CheckResult("broker", status, f"{ctx.broker.name}: circuit {state}")


def check_risk_limits(ctx: EngineContext) -> list[CheckResult]:
    """How much of the daily-loss and drawdown-from-peak limits is used: degraded past half, unhealthy at the limit."""
    from engine.trading.equity import read_marks
    from engine.trading.risk import active_limits

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
        used = float(max(0, (reference - marks.equity) / reference * 100))
        results.append(CheckResult(f"risk: {name}", _grade(used, float(limit) / 2, float(limit)),
                                   f"{used:.2f}% of {reference:,.2f} (limit {limit}%)", used))
    return results


def check_memory() -> CheckResult:
    rss_mb = psutil.Process().memory_info().rss / 1e6
    available = psutil.virtual_memory().percent
    return CheckResult("memory", worst([_grade(rss_mb, 1500, 4000), _grade(available, 90, 97)]),
                       f"process {rss_mb:.0f} MB; machine {available:.0f}% used", rss_mb)


def check_disk(ctx: EngineContext) -> CheckResult:
    usage = shutil.disk_usage(".")
    used_pct = usage.used / usage.total * 100
    return CheckResult("disk", _grade(used_pct, 90, 97), f"{usage.free / 1e9:.1f} GB free ({used_pct:.0f}% used)",
                       used_pct)


def run_all(ctx: EngineContext) -> dict[str, Any]:
    now = ctx.clock.now()
    checks = [check_heartbeat(ctx, now), check_market_data(ctx, now), check_database(ctx), check_broker(ctx),
              *check_risk_limits(ctx), check_memory(), check_disk(ctx), *check_jobs(ctx, now)]
    return {"status": worst([c.status for c in checks]), "checked_at": now.isoformat(),
            "checks": [asdict(c) for c in checks]}
