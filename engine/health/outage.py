"""A store outage seen from the engine: remembered while the database is away, written when it is back.

While PostgreSQL restarts (or SQLite's disk fails) every job fails and not even its failure can be
recorded. `StoreOutage` keeps those job runs in memory (bounded) and, at the first successful write
after the outage, stores them with a `database` health result stamped at the outage's start (status
unhealthy, value = its length in seconds) and one at its end, so the health history shows the gap
instead of silently missing points.
"""
from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import TYPE_CHECKING, Any

from engine.store.models import HealthResult, JobRun

if TYPE_CHECKING:
    from engine.context import EngineContext

log = logging.getLogger(__name__)

RUNS_KEPT = 5_000  # job runs buffered during one outage (about 20 minutes of every job at once)


class StoreOutage:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.since: datetime | None = None
        self.last_error = ""
        self._runs: list[dict[str, Any]] = []
        self.dropped = 0

    @property
    def active(self) -> bool:
        return self.since is not None

    def failed(self, now: datetime, error: str, run: dict[str, Any]) -> None:
        """A job run could not be recorded: the store is unreachable (or refuses writes)."""
        with self._lock:
            if self.since is None:
                self.since = now
                log.error("the store is unreachable since %s: %s; job runs are kept until it is back",
                          now.isoformat(), error)
            self.last_error = error[:500]
            if len(self._runs) < RUNS_KEPT:
                self._runs.append(run)
            else:
                self.dropped += 1

    def recovered(self, ctx: EngineContext) -> float | None:
        """After a successful write: store the outage and the runs it kept; return its length (s) or None."""
        with self._lock:
            if self.since is None:
                return None
            since, runs, dropped, error = self.since, self._runs, self.dropped, self.last_error
            self.since, self._runs, self.dropped = None, [], 0
        now = ctx.clock.now()
        seconds = max(0.0, (now - since).total_seconds())
        detail = (f"store unreachable from {since.isoformat()} to {now.isoformat()} ({seconds:.1f} s): {error}; "
                  f"{len(runs)} job run(s) recorded after it came back" + (f", {dropped} not kept" if dropped else ""))
        try:
            with ctx.store.write() as session:
                session.add_all(JobRun(**run) for run in runs)
                session.add(HealthResult(ts=since, engine_id=ctx.engine_id, name="database", status="unhealthy",
                                         detail=detail[:2000], value=seconds))
                session.add(HealthResult(ts=now, engine_id=ctx.engine_id, name="database", status="healthy",
                                         detail=f"store back after {seconds:.1f} s", value=seconds))
        except Exception:  # noqa: BLE001 - down again: keep the outage open, with what it had
            with self._lock:
                if self.since is None:
                    self.since = since
                else:
                    self.since = min(self.since, since)
                self._runs = (runs + self._runs)[:RUNS_KEPT]
            raise
        log.warning("the store is back: %s", detail)
        return seconds
