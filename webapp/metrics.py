"""Prometheus exposition at /metrics, and the per-route HTTP latency histogram of this web process.

A scrape never runs the health checks: it reads what the engine's health job stored (the newest
health results and one engine_kv row of cumulative figures, engine/health/recorder.py), plus the
heartbeat age and trading state, which it measures itself in three small indexed queries.

Series (all prefixed regimedesk_):
  health_status{check} 0/1/2, health_value{check}, health_results_age_seconds,
  engine_heartbeat_age_seconds, trading_state{state},
  job_duration_seconds{job} (histogram), job_runs_total{job,outcome} (ok / error / skipped),
  orders{status} (orders now in each status), orders_created_total, gateway_rejections_total{reason},
  fills_total, filled_shares_total, regime_id{symbol}, regime_confidence{symbol}, equity_usd,
  drawdown_from_peak_pct, daily_loss_pct, portfolio_* (webapp/risk_metrics.py: VaR, CVaR, beta, stress, cluster),
  scorecard_overall, scorecard_value{metric}, scorecard_grade{metric} (engine/tuning/live.py),
  http_request_duration_seconds{route,method} (histogram), http_requests_total{route,method,status}.

With several gunicorn workers, set PROMETHEUS_MULTIPROC_DIR (an empty directory shared by the workers)
so the HTTP series of every worker are summed into each scrape (prometheus-client's multiprocess mode).
"""
from __future__ import annotations

import hmac
import os
import time
from collections.abc import Iterable
from typing import Any

from flask import Flask, Request, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import select

from engine.context import EngineContext
from engine.health.recorder import DURATION_BUCKETS, METRICS_KEY
from engine.health.report import health_report, unreachable_report
from engine.portfolio_risk.store_io import latest_report
from engine.store.db import bound_statements
from engine.store.models import KeyValue, TradingStateRow
from engine.tuning.live import stored_scorecard
from webapp.context import get_context
from webapp.readiness import STATEMENT_TIMEOUT_MS, TooSlow, bounded_read
from webapp.risk_metrics import portfolio_families
from webapp.tuning_metrics import scorecard_families

STATUS_VALUE = {"healthy": 0, "degraded": 1, "unhealthy": 2}
# the method label's values: anything else is "other" (an anonymous request with a made-up method made a new series)
HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
TRADING_STATES = ("ACTIVE", "REDUCING", "HALTED", "SHUTTING_DOWN", "STOPPED")
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# Process-wide (one web process = one set of HTTP series); in multiprocess mode the values go to files.
HTTP_REGISTRY = CollectorRegistry(auto_describe=True)
HTTP_LATENCY = Histogram("regimedesk_http_request_duration_seconds", "time to answer an HTTP request, by route",
                         ["route", "method"], buckets=HTTP_BUCKETS, registry=HTTP_REGISTRY)
HTTP_REQUESTS = Counter("regimedesk_http_requests", "HTTP requests answered, by route and status code",
                        ["route", "method", "status"], registry=HTTP_REGISTRY)


def metrics_token_ok(req: Request) -> bool:
    """True when the request carries `Authorization: Bearer <REGIMEDESK_METRICS_TOKEN>` (constant-time compare).

    False when no token is configured: then only a logged-in session may read /metrics.
    """
    token = get_context().settings.metrics_token
    expected = token.get_secret_value() if token is not None else ""
    header = req.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if not expected or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), expected.encode())


def instrument(server: Flask) -> None:
    """Time every request of this Flask server into the per-route latency histogram."""

    def _start_timer() -> None:
        g.metrics_t0 = time.perf_counter()

    # first of all before-request hooks, so requests the login guard refuses (401, 403) are timed too
    server.before_request_funcs.setdefault(None, []).insert(0, _start_timer)

    @server.after_request
    def _observe(response):
        t0 = g.pop("metrics_t0", None)
        if t0 is not None:
            route = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
            method = request.method if request.method in HTTP_METHODS else "other"
            HTTP_LATENCY.labels(route=route, method=method).observe(time.perf_counter() - t0)
            HTTP_REQUESTS.labels(route=route, method=method, status=str(response.status_code)).inc()
        return response


METRICS_WAIT_S = 4.0  # the store part of a scrape; Prometheus gives up after 10 s by default


def _read_store(ctx: EngineContext) -> tuple[dict[str, Any], tuple[Any, ...] | None]:
    """The health report and the stored figures (None when the store cannot be read)."""
    report = health_report(ctx)
    try:
        with ctx.store.read() as session:
            bound_statements(session, STATEMENT_TIMEOUT_MS)
            row = session.get(KeyValue, METRICS_KEY)
            cumulative: dict[str, Any] = dict(row.value) if row is not None else {}
            state_row = session.scalars(select(TradingStateRow).where(TradingStateRow.id == 1)).first()
            portfolio = latest_report(session)  # issue 17: the newest portfolio risk report
            scorecard = stored_scorecard(session)  # issue 16: the PerformanceMetrics scorecard
    except Exception:  # noqa: BLE001 - a scrape during a database outage still says so
        return report, None
    return report, (cumulative, state_row.state if state_row is not None else None, portfolio, scorecard)


class StoreCollector:
    """Builds the store-backed series at collect time (one per scrape), within METRICS_WAIT_S: against a frozen
    database the scrape answers store_up 0 in time instead of holding a web thread (bounded_read)."""

    def __init__(self, ctx: EngineContext, wait_s: float = METRICS_WAIT_S) -> None:
        self.ctx = ctx
        self.wait_s = wait_s

    def collect(self) -> Iterable[Metric]:
        ctx = self.ctx
        try:
            report, stored = bounded_read(ctx.store, "metrics", lambda: _read_store(ctx), self.wait_s, "metrics-read")
        except TooSlow:
            report, stored = unreachable_report(ctx, f"did not answer within {self.wait_s:g} s"), None
        up = stored is not None and report.get("store_up", True)
        yield GaugeMetricFamily("regimedesk_store_up", "1 when this web process can read the store", value=int(up))
        yield from _health_families(report)
        if stored is None:
            return
        cumulative, state, portfolio, scorecard = stored
        yield from _trading_families(cumulative, state, report)
        yield from _job_families(cumulative.get("jobs", {}))
        yield from portfolio_families(portfolio, ctx.clock.now())
        yield from scorecard_families(scorecard)


def _health_families(report: dict[str, Any]) -> Iterable[Metric]:
    status = GaugeMetricFamily("regimedesk_health_status", "0 healthy, 1 degraded, 2 unhealthy", labels=["check"])
    value = GaugeMetricFamily("regimedesk_health_value", "the measured value behind a check (s, ms, MB, %, count)",
                              labels=["check"])
    status.add_metric(["overall"], STATUS_VALUE[report["status"]])
    by_name = {}
    for check in report["checks"]:
        by_name[check["name"]] = check
        status.add_metric([check["name"]], STATUS_VALUE[check["status"]])
        if check["value"] is not None:
            value.add_metric([check["name"]], float(check["value"]))
    yield status
    yield value
    beat = by_name.get("engine heartbeat", {}).get("value")
    if beat is not None:
        yield GaugeMetricFamily("regimedesk_engine_heartbeat_age_seconds", "seconds since the active engine beat",
                                value=float(beat))
    age = by_name.get("health results", {}).get("value")
    if age is not None:
        yield GaugeMetricFamily("regimedesk_health_results_age_seconds",
                                "seconds since the engine last stored its health results", value=float(age))


def _trading_families(cumulative: dict[str, Any], state: str | None, report: dict[str, Any]) -> Iterable[Metric]:
    trading = GaugeMetricFamily("regimedesk_trading_state", "1 for the current trading state", labels=["state"])
    for name in TRADING_STATES:
        trading.add_metric([name], 1 if name == state else 0)
    yield trading
    orders = GaugeMetricFamily("regimedesk_orders", "orders now in each status (terminal statuses only grow)",
                               labels=["status"])
    by_status = cumulative.get("orders_by_status", {})
    for status, count in sorted(by_status.items()):
        orders.add_metric([status], count)
    yield orders
    yield CounterMetricFamily("regimedesk_orders_created", "orders the gateway recorded", value=sum(by_status.values()))
    rejections = CounterMetricFamily("regimedesk_gateway_rejections", "orders rejected, by the check or party that "
                                     "refused them (a risk check's name, or broker); each order counts once, "
                                     "also when a guessed rejection is corrected later", labels=["reason"])
    for reason, count in sorted(cumulative.get("rejections_by_reason", {}).items()):
        rejections.add_metric([reason], count)
    yield rejections
    yield CounterMetricFamily("regimedesk_fills", "fills received from the broker", value=cumulative.get("fills", 0))
    yield CounterMetricFamily("regimedesk_filled_shares", "shares filled (both sides)",
                              value=cumulative.get("filled_qty", 0.0))
    regime = cumulative.get("regime")
    if regime:
        regime_id = GaugeMetricFamily("regimedesk_regime_id", "the regime the engine acts on now (the effective regime; -1: uncertain, none)", labels=["symbol", "name"])
        regime_id.add_metric([regime["symbol"], regime["name"]], regime["id"])
        yield regime_id
        confidence = GaugeMetricFamily("regimedesk_regime_confidence", "confidence of the detected regime, 0..1",
                                       labels=["symbol"])
        confidence.add_metric([regime["symbol"]], float(regime["confidence"]))
        yield confidence
    if cumulative.get("equity") is not None:
        yield GaugeMetricFamily("regimedesk_equity_usd", "account equity at the last broker sync",
                                value=cumulative["equity"])
    risk = {c["name"]: c["value"] for c in report["checks"] if c["name"].startswith("risk: ")}
    if risk.get("risk: drawdown from peak") is not None:
        yield GaugeMetricFamily("regimedesk_drawdown_from_peak_pct", "equity below its peak, percent",
                                value=risk["risk: drawdown from peak"])
    if risk.get("risk: daily loss") is not None:
        yield GaugeMetricFamily("regimedesk_daily_loss_pct", "equity below the start of the trading day, percent",
                                value=risk["risk: daily loss"])


def _job_families(jobs: dict[str, Any]) -> Iterable[Metric]:
    durations = HistogramMetricFamily("regimedesk_job_duration_seconds", "engine job run time", labels=["job"])
    runs = CounterMetricFamily("regimedesk_job_runs", "engine job runs by outcome (skipped: APScheduler refused "
                               "the run, the previous one still running or too late)", labels=["job", "outcome"])
    for job, hist in sorted(jobs.items()):
        buckets = [(str(bound), count) for bound, count in zip(DURATION_BUCKETS, hist["buckets"], strict=True)]
        buckets.append(("+Inf", hist["count"]))
        durations.add_metric([job], buckets, sum_value=hist["sum"])
        runs.add_metric([job, "ok"], hist["count"] - hist["errors"])
        runs.add_metric([job, "error"], hist["errors"])
        runs.add_metric([job, "skipped"], hist["skipped"])
    yield durations
    yield runs


def render_metrics(ctx: EngineContext) -> bytes:
    """The text exposition: store-backed series and this process's (or all workers') HTTP series."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(ctx))
    body = generate_latest(registry)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        merged = CollectorRegistry()
        MultiProcessCollector(merged)
        return body + generate_latest(merged)
    return body + generate_latest(HTTP_REGISTRY)
