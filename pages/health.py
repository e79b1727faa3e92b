"""Health: every check healthy / degraded / unhealthy at a glance, job timings, engines. JSON at /api/health."""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, dcc, html

from components import formatting as fmt
from components.cards import status_badge
from components.shell import page_header
from components.tables import small_table
from engine.auth.roles import Role
from engine.health.checks import run_all
from webapp import queries
from webapp.auth.access import requires
from webapp.cache import cache
from webapp.context import get_context

dash.register_page(__name__, path="/health", name="Health", order=4)

REFRESH_MS = 2000


@cache.memoize()
def _health_report() -> dict:
    return run_all(get_context())


def layout(**_kwargs: object) -> html.Div:
    return html.Div([
        page_header("Health", "Machine-readable: /api/health (HTTP 503 when unhealthy)"),
        dcc.Interval(id="health-interval", interval=REFRESH_MS),
        html.Div(id="health-overall", className="mb-2"),
        dbc.Row([
            dbc.Col([html.H6("Checks"), html.Div(id="health-checks")], md=6),
            dbc.Col([html.H6("Engines"), html.Div(id="health-engines")], md=6),
        ], className="g-2"),
        html.H6("Jobs (last 15 minutes)", className="mt-3"),
        html.Div(id="health-jobs"),
    ])


@dash.callback(
    Output("health-overall", "children"), Output("health-checks", "children"),
    Output("health-engines", "children"), Output("health-jobs", "children"),
    Input("health-interval", "n_intervals"),
)
@requires(Role.VIEWER)
def refresh_health(_n: int | None):  # type: ignore[no-untyped-def]
    report = _health_report()
    overall = html.H4(["Overall ", status_badge(report["status"], id="health-overall-status")])
    checks = small_table(["Check", "Status", "Detail"],
                         [(c["name"], status_badge(c["status"]), c["detail"]) for c in report["checks"]], "no checks")
    now = queries.now()
    engines = small_table(
        ["Engine", "Status", "Last beat", "Started"],
        [(b["engine_id"], b["status"], f"{fmt.age((now - b['last_beat']).total_seconds())} ago",
          fmt.timestamp(b["started_at"])) for b in queries.heartbeats()],
        "no engine has started",
    )
    jobs = small_table(
        ["Job", "Runs", "Errors", "Median ms", "p95 ms", "Last ms", "Last run", "Last outcome", "Last error"],
        [(s["job"], s["runs"], s["errors"], fmt.number(s["median_ms"]), fmt.number(s["p95_ms"]),
          fmt.number(s["last_ms"]), f"{fmt.age((now - s['last_run']).total_seconds())} ago",
          status_badge(s["last_outcome"]), s["last_error"] or "") for s in queries.job_stats()],
        "no job runs recorded yet",
    )
    return overall, checks, engines, jobs
