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
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import make_url

from engine.store.models import HealthResult, JobRun

if TYPE_CHECKING:
    from engine.context import EngineContext

log = logging.getLogger(__name__)

RUNS_KEPT = 5_000  # job runs buffered during one outage (about 20 minutes of every job at once)


PAGE_AFTER_S = 15.0  # an outage this long pages people (a PostgreSQL restart of a few seconds does not)
PAGE_TITLE = "RegimeDesk: database unreachable"
BACK_TITLE = "RegimeDesk: database back"


class StoreOutage:
    def __init__(self, store_name: str = "", page_after_s: float = PAGE_AFTER_S) -> None:
        self._lock = threading.Lock()
        self.since: datetime | None = None
        self.last_error = ""
        self._runs: list[dict[str, Any]] = []
        self.dropped = 0
        self.store_name = store_name  # the URL without its password (Store.safe_url); set by the health job
        self.page_after_s = page_after_s
        self._started = 0.0  # time.monotonic() at the outage's start: the grace is real time, whatever the clock
        self._paged = False  # this outage's page went out: its end is news too
        self._password = ""  # never in a page, even if a driver's error text quoted it

    @property
    def active(self) -> bool:
        return self.since is not None

    def know_store(self, ctx: EngineContext) -> None:
        """Remember the store's name for the pages (the health job calls this before touching the store)."""
        if not self.store_name:
            self.store_name = ctx.store.safe_url()
            password = make_url(ctx.store.url).password
            self._password = str(password) if password else ""

    def failed(self, now: datetime, error: str, run: dict[str, Any]) -> None:
        """A job run could not be recorded: the store is unreachable (or refuses writes). Once that has lasted
        `page_after_s`, people are paged (engine/notify.py, subject to its rate limit), once per outage."""
        with self._lock:
            if self.since is None:
                self.since, self._started, self._paged = now, time.monotonic(), False
                log.error("the store is unreachable since %s: %s; job runs are kept until it is back",
                          now.isoformat(), error)
            self.last_error = error[:500]
            if len(self._runs) < RUNS_KEPT:
                self._runs.append(run)
            else:
                self.dropped += 1
            lasted = time.monotonic() - self._started
            page = not self._paged and lasted >= self.page_after_s
            self._paged = self._paged or page
            since = self.since
        if page:
            self._page(PAGE_TITLE, f"the engine cannot reach the store {self._name()} since {since:%Y-%m-%d %H:%M:%S} UTC "
                              f"({lasted:.0f} s): {self.last_error}. Nothing can be recorded (orders, fills, state); "
                              "job runs are kept until it is back")

    def _name(self) -> str:
        return self.store_name or "(its database)"

    def _page(self, title: str, body: str) -> None:
        _page(title, body.replace(self._password, "***") if self._password else body)

    def recovered(self, ctx: EngineContext) -> float | None:
        """After a successful write: store the outage and the runs it kept; return its length (s) or None."""
        self.know_store(ctx)
        with self._lock:
            if self.since is None:
                return None
            since, runs, dropped, error = self.since, self._runs, self.dropped, self.last_error
            self.since, self._runs, self.dropped = None, [], 0
            paged, self._paged = self._paged, False
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
                self._paged = self._paged or paged
            raise
        log.warning("the store is back: %s", detail)
        if paged:  # its start was paged: say it is over (a short outage that paged nobody stays quiet)
            self._page(BACK_TITLE, f"the store {self._name()} is back after {seconds:.0f} s (unreachable since "
                              f"{since:%Y-%m-%d %H:%M:%S} UTC); {len(runs)} job run(s) kept meanwhile were recorded")
        return seconds


def _page(title: str, body: str) -> None:
    """Through the process's notifier (never blocks, never raises), held by its overall rate limit like any page."""
    from engine import notify  # local import: notify imports the store's models, which import this package

    try:
        notify.current().send(title, body, "failure" if title == PAGE_TITLE else "info", limited=True)
    except Exception as exc:  # noqa: BLE001 - the outage is logged whatever the notifier does
        log.error("could not queue the %r page: %s", title, type(exc).__name__)
