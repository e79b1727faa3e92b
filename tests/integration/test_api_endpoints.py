"""Machine-readable health: /api/health JSON with a status code that load balancers understand, /metrics."""
from __future__ import annotations

import time


def test_health_endpoint_reports_every_check_and_turns_healthy_when_the_engine_runs(embedded_app) -> None:  # type: ignore[no-untyped-def]
    app = embedded_app()
    client = app.server.test_client()
    deadline = time.time() + 20
    while True:
        response = client.get("/api/health")
        report = response.get_json()
        names = {c["name"] for c in report["checks"]}
        if {"job market", "job account"} <= names and report["status"] != "unhealthy":
            break
        assert time.time() < deadline, report
        time.sleep(0.5)
    assert response.status_code == 200
    assert {"engine heartbeat", "market data", "database", "broker", "memory", "disk"} <= names
    assert {c["status"] for c in report["checks"]} <= {"healthy", "degraded", "unhealthy"}
    state = client.get("/api/state").get_json()
    assert state["state"] == "ACTIVE"
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'regimedesk_health_status{check="database"} 0.0' in metrics
    assert 'regimedesk_trading_state{state="ACTIVE"} 1.0' in metrics


def test_health_is_unhealthy_503_without_an_engine(test_settings) -> None:  # type: ignore[no-untyped-def]
    from app import create_app

    app = create_app(test_settings(), start_engine=False)
    response = app.server.test_client().get("/api/health")
    assert response.status_code == 503
    checks = {c["name"]: c for c in response.get_json()["checks"]}
    assert checks["engine heartbeat"]["status"] == "unhealthy"
    assert "no active engine" in checks["engine heartbeat"]["detail"]
