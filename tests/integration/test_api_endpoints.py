"""Machine-readable health on SQLite and PostgreSQL: /api/health JSON for a logged-in user, /api/state.

/api/health answers 200 with the status in its body (a load balancer uses /readyz, which never fails
because of the engine); `?strict=1` gives 503 when unhealthy, for uptime monitors.
See test_health_endpoints.py for /healthz, /readyz and /metrics over real HTTP.
"""
from __future__ import annotations

import time

from tests.auth_helpers import login_client


def _app(url: str, engine: bool):  # type: ignore[no-untyped-def]
    from app import create_app
    from engine.settings import load_settings

    return create_app(load_settings(database_url=url, tick_seconds=0.25, warmup_polls=100), start_engine=engine)


def test_health_endpoint_reports_every_check_and_turns_healthy_when_the_engine_runs(any_db_url: str) -> None:
    from app import ENGINE_KEY

    app = _app(any_db_url, engine=True)
    try:
        client = login_client(app, "viewer")
        deadline = time.time() + 40
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
        metrics = client.get("/metrics").get_data(as_text=True)  # a logged-in session may read /metrics
        assert 'regimedesk_health_status{check="database"} 0.0' in metrics
        assert 'regimedesk_trading_state{state="ACTIVE"} 1.0' in metrics
    finally:
        app.server.extensions[ENGINE_KEY].shutdown()


def test_health_without_an_engine_is_unhealthy_in_the_body_and_503_only_when_strict(any_db_url: str) -> None:
    app = _app(any_db_url, engine=False)
    client = login_client(app, "viewer")
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.get_json()["status"] == "unhealthy"
    checks = {c["name"]: c for c in response.get_json()["checks"]}
    assert checks["engine heartbeat"]["status"] == "unhealthy"
    assert "no active engine" in checks["engine heartbeat"]["detail"]
    assert client.get("/api/health?strict=1").status_code == 503
