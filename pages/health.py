"""Health: every check healthy / degraded / unhealthy at a glance, job timings, engines. JSON at /api/health."""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

import dash
from dash import Input, Output, dcc, html

from components import formatting as fmt
from components.cards import status_badge
from components.ids import health as ids
from components.shell import page_header
from components.sparkline import sparkline
from components.tables import small_table
from engine.auth.roles import Role
from engine.health import report as health
from engine.store import queries as store_queries
from engine.store.db import bound_statements
from webapp import queries
from webapp.auth.access import requires
from webapp.cache import cache
from webapp.context import get_context
from webapp.market_time import WALL_CLOCK, market_clock_label, timezone_alert
from webapp.readiness import REPORT_WAIT_S, STATEMENT_TIMEOUT_MS, bounded_health_report, bounded_read

dash.register_page(__name__, path="/health", name="Health", order=4)
log = logging.getLogger(__name__)
T = TypeVar("T")

REFRESH_MS = 2000
_LIVENESS_CLASS = {"live": "text-success fw-bold", "stale": "text-warning fw-bold", "dead": "text-danger fw-bold",
                   "stopped": "text-secondary"}


SPARK_POINTS = 40  # the newest stored results shown per check (one health run every 10 s: about 7 minutes)


@cache.memoize()
def _health_report() -> dict:
    """Stored engine results plus the live heartbeat and database checks (never runs the checks itself), within
    a few seconds: a frozen store shows as a database outage instead of holding the web's threads."""
    return bounded_health_report(get_context())


def _read_history_and_engines() -> tuple[dict, list]:
    ctx = get_context()
    now = ctx.clock.now()

    def read() -> tuple[dict, list]:
        with ctx.store.read() as session:
            bound_statements(session, STATEMENT_TIMEOUT_MS)
            since = now - timedelta(seconds=SPARK_POINTS * 10 + 30)
            return health.history(session, since), health.engines(session, now)

    return bounded_read(ctx.store, "health-page", read, REPORT_WAIT_S, "health-page-read")


@cache.memoize(timeout=5)  # as webapp.queries.job_stats: a 15-minute statistic, not a live value
def _job_stats() -> list[dict]:
    ctx = get_context()
    now = ctx.clock.now()

    def read() -> list[dict]:
        with ctx.store.read() as session:
            return store_queries.job_stats(session, now)

    return bounded_read(ctx.store, "health-jobs", read, REPORT_WAIT_S, "health-page-read")


@cache.memoize()
def _history_and_engines() -> tuple[dict, list]:
    return _read_history_and_engines()


_NO_HISTORY: tuple[dict, list] = ({}, [])
_NO_JOBS: list[dict] = []


def _or_empty(read: Callable[[], T], empty: T) -> T:
    """`read()`, or `empty` when the store cannot answer: the checks table still shows the outage."""
    try:
        return read()
    except Exception as exc:  # noqa: BLE001 - any store failure: the database check says which
        log.warning("health page: the store could not be read (%s)", type(exc).__name__)
        return empty


def layout(**_kwargs: object) -> html.Div:
    return html.Div([
        page_header("Health", "Machine-readable: /api/health (details), /readyz (load balancers), /metrics"),
        dcc.Interval(id=ids.INTERVAL, interval=REFRESH_MS),
        html.Div(id=ids.OVERALL, className="mb-2"),
        timezone_alert("health-market-timezone"),
        html.Div(f"Clock: {market_clock_label()}; {WALL_CLOCK}", id=ids.CLOCK, className="small text-muted mb-2"),
        html.H6("Checks"), html.Div(id=ids.CHECKS),  # full width: the Detail column is the point of the table
        html.H6("Engines", className="mt-3"), html.Div(id=ids.ENGINES),
        html.H6("Jobs (last 15 minutes)", className="mt-3"),
        html.Div(id=ids.JOBS),
    ])


@dash.callback(
    Output(ids.OVERALL, "children"), Output(ids.CHECKS, "children"),
    Output(ids.ENGINES, "children"), Output(ids.JOBS, "children"),
    Input(ids.INTERVAL, "n_intervals"),
)
@requires(Role.VIEWER)
def refresh_health(_n: int | None):
    report = _health_report()
    overall = html.H4(["Overall ", status_badge(report["status"], id=ids.OVERALL_STATUS)])
    history, engine_rows = _or_empty(_history_and_engines, _NO_HISTORY)
    checks = small_table(["Check", "Status", "History", "Detail"],
                         [(c["name"], status_badge(c["status"]),
                           sparkline([(st, v) for _ts, st, v in history.get(c["name"], [])[-SPARK_POINTS:]],
                                     id={"type": ids.SPARK, "name": c["name"]}),
                           c["detail"]) for c in report["checks"]], "no checks")
    now = queries.now()
    engines = small_table(
        ["Engine", "Liveness", "Role", "Last beat", "Leader since", "Started"],
        [(e["engine"], html.Span(e["liveness"], className=_LIVENESS_CLASS[e["liveness"]],
                                 id={"type": ids.ENGINE_LIVENESS, "name": e["engine"]}),
          e["role"], f"{fmt.age(e['age_s'])} ago",
          fmt.timestamp(e["leader_since"]) if e["leader_since"] else "—",
          fmt.timestamp(e["started_at"])) for e in engine_rows],
        "no engine has beaten in the last hour",
    )
    jobs = small_table(
        ["Job", "Runs", "Errors", "Skipped", "Median ms", "p95 ms", "Last ms", "Last run", "Last outcome", "Last error"],
        [(s["job"], s["runs"], s["errors"], s.get("skipped", 0), fmt.number(s["median_ms"]), fmt.number(s["p95_ms"]),
          fmt.number(s["last_ms"]), f"{fmt.age((now - s['last_run']).total_seconds())} ago",
          status_badge(s["last_outcome"]), s["last_error"] or "") for s in _or_empty(_job_stats, _NO_JOBS)],
        "no job runs recorded yet",
    )
    return overall, checks, engines, jobs
