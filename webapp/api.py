"""Machine-readable endpoints: /api/health (200 healthy/degraded, 503 unhealthy), /api/state, /metrics."""
from __future__ import annotations

from flask import Flask, Response, jsonify
from prometheus_client import CONTENT_TYPE_LATEST

from engine.health.checks import UNHEALTHY, run_all
from webapp import queries
from webapp.context import get_context
from webapp.metrics import render_metrics


def register_api_routes(server: Flask) -> None:
    @server.route("/api/health")
    def api_health():  # type: ignore[no-untyped-def]
        report = run_all(get_context())
        return jsonify(report), 503 if report["status"] == UNHEALTHY else 200

    @server.route("/api/state")
    def api_state():  # type: ignore[no-untyped-def]
        state = queries.trading_state()
        if state is None:
            return jsonify({"state": None}), 503
        return jsonify({**state, "changed_at": state["changed_at"].isoformat()})

    @server.route("/metrics")
    def metrics():  # type: ignore[no-untyped-def]
        state = queries.trading_state()
        return Response(render_metrics(run_all(get_context()), state["state"] if state else None),
                        mimetype=CONTENT_TYPE_LATEST)
