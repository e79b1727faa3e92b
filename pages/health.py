"""Health: every check healthy / degraded / unhealthy at a glance, job timings, engines. JSON at /api/health."""
from __future__ import annotations

from datetime import timedelta

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
from webapp import queries
from webapp.auth.access import requires
from webapp.cache import cache
from webapp.context import get_context
from webapp.market_time import WALL_CLOCK, market_clock_label, timezone_alert

dash.register_page(__name__, path="/health", name="Health", order=4)

REFRESH_MS = 2000
_LIVENESS_CLASS = {"live": "text-success fw-bold", "stale": "text-warning fw-bold", "dead": "text-danger fw-bold",
                   "stopped": "text-secondary"}


SPARK_POINTS = 40  # the newest stored results shown per check (one health run every 10 s: about 7 minutes)


@cache.memoize()
def _health_report() -> dict:
    """Stored engine results plus the live heartbeat and database checks (never runs the checks itself)."""
    return health.health_report(get_context())


@cache.memoize()
def _history_and_engines() -> tuple[dict, list]:
    ctx = get_context()
    now = ctx.clock.now()
    with ctx.store.read() as session:
        since = now - timedelta(seconds=SPARK_POINTS * 10 + 30)
        return health.history(session, since), health.engines(session, now)


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
    history, engine_rows = _history_and_engines()
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
          status_badge(s["last_outcome"]), s["last_error"] or "") for s in queries.job_stats()],
        "no job runs recorded yet",
    )
    return overall, checks, engines, jobs
