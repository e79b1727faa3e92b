"""Machine-readable endpoints.

  /healthz      liveness of this web process: public, no database, constant answer
  /readyz       readiness of this web process: store reachable and schema current (200 / 503); public;
                never 503 because of the engine or risk (a load balancer must keep the web that runs the
                kill switch against a dead engine)
  /api/health   every check with details (200; `?strict=1` answers 503 when unhealthy, for uptime monitors;
                503 whenever the store cannot be read, answered within a few seconds even if it froze)
  /api/state    the trading state
  /metrics      Prometheus text (bearer REGIMEDESK_METRICS_TOKEN, or a logged-in session)
"""
from __future__ import annotations

from flask import Flask, Response, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST

from engine.auth import principal
from engine.health.checks import UNHEALTHY
from webapp import queries
from webapp.context import get_context
from webapp.metrics import instrument, metrics_token_ok, render_metrics
from webapp.readiness import bounded_health_report, bounded_readiness


def register_api_routes(server: Flask) -> None:
    instrument(server)

    @server.route("/healthz")
    def healthz():
        return Response('{"status":"ok"}\n', mimetype="application/json")

    @server.route("/readyz")
    def readyz():
        ready, reason = bounded_readiness(get_context().store)
        body = {"status": "ready"} if ready else {"status": "not ready", "reason": reason}
        return jsonify(body), 200 if ready else 503

    @server.route("/api/health")
    def api_health():
        report = bounded_health_report(get_context())
        if not report.get("store_up", True):  # an outage is always news, strict or not
            return jsonify({**report, "error": "the store is unreachable: see the database check"}), 503
        strict = request.args.get("strict") in ("1", "true")
        return jsonify(report), 503 if strict and report["status"] == UNHEALTHY else 200

    @server.route("/api/state")
    def api_state():
        state = queries.trading_state()
        if state is None:
            return jsonify({"state": None}), 503
        return jsonify({**state, "changed_at": state["changed_at"].isoformat()})

    @server.route("/metrics")
    def metrics():
        if not (metrics_token_ok(request) or principal.current().name):
            return Response("send Authorization: Bearer <REGIMEDESK_METRICS_TOKEN>, or log in\n", status=401,
                            headers={"WWW-Authenticate": 'Bearer realm="regimedesk"'}, mimetype="text/plain")
        return Response(render_metrics(get_context()), mimetype=CONTENT_TYPE_LATEST)
