"""What readers (the web's /api/health, /metrics, the Health page) see: the engine's stored health results
plus what only an outside observer can judge, measured now.

Measured now, by the reader: the engine heartbeat (a dead engine cannot report its own death), the
database (this process's own connection) and how old the stored results are. Everything else comes
from the newest run of the engine's health job (engine/health/recorder.py), so no request runs the
expensive checks.
"""
from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.context import EngineContext
from engine.health.checks import check_database, check_heartbeat
from engine.health.grades import DEGRADED, HEALTHY, UNHEALTHY, CheckResult, grade, worst
from engine.health.params_check import NAME as PARAMS_CHECK
from engine.health.params_check import check_active_params
from engine.health.recorder import HEALTH_JOB_SECONDS
from engine.store.db_clock import reader_now
from engine.store.keyvalue import LEASE_TAKEN_KEY
from engine.store.models import EngineHeartbeat, EngineLease, HealthResult, KeyValue

LIVE_CHECKS = ("engine heartbeat", "database", PARAMS_CHECK)  # measured by the reader (params: one cached read)
RESULTS_DEGRADED_AFTER = 3 * HEALTH_JOB_SECONDS + 10  # seconds: three missed health runs
RESULTS_UNHEALTHY_AFTER = 12 * HEALTH_JOB_SECONDS + 60
ENGINE_LIVE_SECONDS = 10.0  # heartbeat age: live below this (beats every 2 s) ...
ENGINE_DEAD_SECONDS = 30.0  # ... stale below this, dead beyond (the lease lapses after 15 s)


def latest_results(session: Session) -> tuple[datetime | None, list[HealthResult]]:
    """The rows of the newest health run (all written with the same ts)."""
    newest = session.scalar(select(func.max(HealthResult.ts)))
    if newest is None:
        return None, []
    return newest, list(session.scalars(select(HealthResult).where(HealthResult.ts == newest)
                                         .order_by(HealthResult.id)))


def stored_freshness(results_at: datetime | None, now: datetime) -> CheckResult:
    if results_at is None:
        return CheckResult("health results", DEGRADED, "the engine has not stored any health results yet")
    age = max(0.0, (now - results_at).total_seconds())
    return CheckResult("health results", grade(age, RESULTS_DEGRADED_AFTER, RESULTS_UNHEALTHY_AFTER),
                       f"engine checks last stored {age:.0f} s ago (every {HEALTH_JOB_SECONDS:g} s)", age)


def health_report(ctx: EngineContext) -> dict[str, Any]:
    """Every check with its details: live heartbeat, database and parameters, the rest as the engine last stored it."""
    now = ctx.clock.now()
    database = check_database(ctx)
    results_at: datetime | None = None
    stored: list[HealthResult] = []
    store_up = True
    try:
        heartbeat = check_heartbeat(ctx, now)
        with ctx.store.read() as session:
            results_at, stored = latest_results(session)
    except Exception as exc:  # noqa: BLE001 - the store is down: say so in every check it decides
        store_up = False
        heartbeat = CheckResult("engine heartbeat", UNHEALTHY,
                                f"unknown: the store cannot be read ({type(exc).__name__})")
    live = [heartbeat, database]
    # the parameters measured here too: an active version that will not load shows even with the engine down
    checks = [*live, stored_freshness(results_at, now), check_active_params(ctx)]
    checks += [CheckResult(r.name, r.status, r.detail, r.value) for r in stored if r.name not in LIVE_CHECKS]
    return {"status": worst([c.status for c in checks]), "checked_at": now.isoformat(),
            "results_at": results_at.isoformat() if results_at else None, "store_up": store_up,
            "checks": [asdict(c) for c in checks]}


def unreachable_report(ctx: EngineContext, why: str) -> dict[str, Any]:
    """The report when the store did not answer in time (a frozen server): built without touching the store,
    so /metrics, /api/health and the Health page still say what is wrong instead of hanging."""
    unknown = f"unknown: the store cannot be read ({why})"
    checks = [CheckResult("engine heartbeat", UNHEALTHY, unknown),
              CheckResult("database", UNHEALTHY, f"{ctx.store.safe_url()}: {why}"),
              CheckResult("health results", UNHEALTHY, unknown)]
    return {"status": UNHEALTHY, "checked_at": ctx.clock.now().isoformat(), "results_at": None, "store_up": False,
            "checks": [asdict(c) for c in checks]}


def history(session: Session, since: datetime) -> dict[str, list[tuple[datetime, str, float | None]]]:
    """Per check, its stored results since `since`, oldest first (the Health page's sparklines)."""
    rows = session.execute(select(HealthResult.name, HealthResult.ts, HealthResult.status, HealthResult.value)
                           .where(HealthResult.ts >= since).order_by(HealthResult.ts)).all()
    out: dict[str, list[tuple[datetime, str, float | None]]] = {}
    for name, ts, status, value in rows:
        out.setdefault(name, []).append((ts, status, value))
    return out


def engine_liveness(age_s: float) -> str:
    return "live" if age_s < ENGINE_LIVE_SECONDS else "stale" if age_s < ENGINE_DEAD_SECONDS else "dead"


def engines(session: Session, now: datetime, keep: timedelta = timedelta(hours=1),
            wall: bool | None = None) -> list[dict[str, Any]]:
    """Engines that beat in the last hour (and any that stopped cleanly), with liveness judged from the
    heartbeat's age, not from the status the engine last wrote (a SIGKILLed engine never writes "stopped"),
    and which one holds the lease, since when. Beats and the lease are in the database's time, so they are
    aged by its clock for a wall-clock reader (`wall`: see db_clock.reader_now), not by this machine's."""
    beat_now = reader_now(session, now, wall)
    lease = session.get(EngineLease, 1)
    holder_since = _lease_since(session, lease.holder) if lease is not None else None
    rows = session.scalars(select(EngineHeartbeat).where(EngineHeartbeat.last_beat >= beat_now - keep)
                           .order_by(EngineHeartbeat.last_beat.desc())).all()
    out = []
    for beat in rows:
        age = max(0.0, (beat_now - beat.last_beat).total_seconds())
        liveness = "stopped" if beat.status == "stopped" else engine_liveness(age)
        holds = lease is not None and lease.holder == beat.engine_id and lease.lease_until >= beat_now
        role = "active" if holds and liveness != "stopped" else ("stopped" if liveness == "stopped" else
                                                                  "standby" if liveness == "live" else "gone")
        out.append({
            "engine": beat.engine_id, "host": beat.host, "pid": beat.pid, "started_at": beat.started_at,
            "last_beat": beat.last_beat, "age_s": age, "liveness": liveness, "role": role,
            "lease_until": lease.lease_until if holds and lease is not None else None,
            "leader_since": holder_since if holds else None,
        })
    return out


def _lease_since(session: Session, holder: str) -> datetime | None:
    row = session.get(KeyValue, LEASE_TAKEN_KEY)
    if row is None or row.value.get("holder") != holder:
        return None
    return datetime.fromisoformat(row.value["at"])


__all__ = ["HEALTHY", "health_report", "unreachable_report", "history", "engines", "latest_results", "engine_liveness"]
