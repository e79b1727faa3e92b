"""/healthz, /readyz, /api/health and /metrics over real HTTP on 127.0.0.1, on SQLite and PostgreSQL.

/metrics is parsed with prometheus-client's own parser; its figures are checked against the store.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select
from werkzeug.serving import make_server

from engine.store.models import HealthResult, Instrument, JobRun, OrderRow
from tests.auth_helpers import login_client

TOKEN = "scrape-me-please-0123456789"


class Served:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.server = make_server("127.0.0.1", 0, app.server, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.get(self.url + path, timeout=30, **kwargs)

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def serve() -> Iterator[Any]:
    from app import ENGINE_KEY, create_app
    from engine.settings import load_settings

    started: list[Served] = []

    def make(url: str, engine: bool, **overrides: Any) -> Served:
        values: dict[str, Any] = {"database_url": url, "tick_seconds": 0.25, "warmup_polls": 100,
                                  "metrics_token": TOKEN, "engine_mode": "embedded"}
        values.update(overrides)
        app = create_app(load_settings(**values), start_engine=engine)
        started.append(Served(app))
        return started[-1]

    yield make
    for served in started:
        served.close()
        service = served.app.server.extensions.get(ENGINE_KEY)
        if service is not None:
            service.shutdown()


def _store(served: Served):  # type: ignore[no-untyped-def]
    from webapp.context import EXTENSION_KEY

    return served.app.server.extensions[EXTENSION_KEY].store


def _families(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def _sample(families: dict[str, Any], family: str, sample: str, **labels: str) -> float | None:
    for s in families[family].samples:
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    return None


def _wait_for_health_run(served: Served, runs: int = 1, timeout: float = 40.0) -> None:
    deadline = time.time() + timeout
    while True:
        with _store(served).read() as session:
            if (session.scalar(select(func.count(func.distinct(HealthResult.ts)))) or 0) >= runs:
                return
        assert time.time() < deadline, "the engine stored no health results in time"
        time.sleep(0.5)


def test_endpoints_status_codes_and_content_with_an_engine(any_db_url: str, serve) -> None:  # type: ignore[no-untyped-def]
    served = serve(any_db_url, engine=True)
    # liveness and readiness: public, minimal
    live = served.get("/healthz")
    assert live.status_code == 200 and live.json() == {"status": "ok"}
    ready = served.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}
    # details and metrics are not public
    assert served.get("/api/health").status_code == 401
    assert served.get("/metrics").status_code == 401
    assert served.get("/metrics", headers={"Authorization": "Bearer wrong-token"}).status_code == 401
    assert served.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401

    _wait_for_health_run(served)
    client = login_client(served.app, "viewer")
    report = client.get("/api/health")
    assert report.status_code == 200
    body = report.get_json()
    checks = {c["name"]: c for c in body["checks"]}
    assert {"engine heartbeat", "database", "health results", "market data", "broker", "broker latency",
            "reconciliation", "regime detector", "disk", "memory", "job market"} <= set(checks)
    assert checks["engine heartbeat"]["status"] == "healthy"
    assert body["results_at"] is not None

    # a rejected order (far above any position limit) so the rejection counter has a reason
    from engine.trading.brokers.base import OrderSide
    from engine.trading.gateway import OrderIntent, submit
    from webapp.context import EXTENSION_KEY

    ctx = served.app.server.extensions[EXTENSION_KEY]
    with ctx.store.read() as session:
        symbol = session.scalars(select(Instrument.symbol).where(Instrument.kind == "stock")).first()
    result = submit(ctx, OrderIntent(symbol=symbol, side=OrderSide.BUY, qty=Decimal("50000000"),
                                     idempotency_key="metrics-test"), actor="test", origin="manual")
    assert not result.accepted
    reason = (result.check or "").strip()
    with ctx.store.read() as session:
        health_runs_before = session.scalar(select(func.count(func.distinct(HealthResult.ts))))
    _wait_for_health_run(served, runs=(health_runs_before or 0) + 1)

    scrape = served.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert scrape.status_code == 200
    assert scrape.headers["Content-Type"].startswith("text/plain")
    fam = _families(scrape.text)
    assert _sample(fam, "regimedesk_store_up", "regimedesk_store_up") == 1
    assert fam["regimedesk_job_duration_seconds"].type == "histogram"
    assert fam["regimedesk_job_runs"].type == "counter"
    assert fam["regimedesk_http_request_duration_seconds"].type == "histogram"
    for name in ("regimedesk_orders", "regimedesk_gateway_rejections", "regimedesk_fills", "regimedesk_regime_id",
                 "regimedesk_regime_confidence", "regimedesk_equity_usd", "regimedesk_drawdown_from_peak_pct",
                 "regimedesk_health_status", "regimedesk_trading_state", "regimedesk_orders_created"):
        assert name in fam, name
    with ctx.store.read() as session:
        market_ok = session.scalar(select(func.count()).where(JobRun.job == "market", JobRun.outcome == "ok"))
        rejected = session.scalar(select(func.count()).where(OrderRow.status == "rejected",
                                                             OrderRow.reject_reason.like(f"{reason}:%")))
        orders_total = session.scalar(select(func.count()).select_from(OrderRow))
    counted = _sample(fam, "regimedesk_job_runs", "regimedesk_job_runs_total", job="market", outcome="ok")
    assert counted is not None and 0 < counted <= market_ok  # cumulative up to the last health run
    buckets = _sample(fam, "regimedesk_job_duration_seconds", "regimedesk_job_duration_seconds_count", job="market")
    assert buckets == counted
    assert _sample(fam, "regimedesk_gateway_rejections", "regimedesk_gateway_rejections_total", reason=reason) == rejected
    assert _sample(fam, "regimedesk_orders_created", "regimedesk_orders_created_total") <= orders_total
    confidence = fam["regimedesk_regime_confidence"].samples[0].value
    assert 0 <= confidence <= 1
    assert _sample(fam, "regimedesk_health_status", "regimedesk_health_status", check="database") == 0
    assert _sample(fam, "regimedesk_trading_state", "regimedesk_trading_state", state="ACTIVE") == 1
    assert _sample(fam, "regimedesk_http_request_duration_seconds", "regimedesk_http_request_duration_seconds_count",
                   route="/healthz", method="GET") >= 1
    # refused requests are counted too (the timer runs before the login guard): the three 401s above
    assert _sample(fam, "regimedesk_http_requests", "regimedesk_http_requests_total", route="/metrics", method="GET",
                   status="401") >= 3
    # a scrape reads stored results: the broker probe is not re-run per scrape (its value does not move)
    again = _families(served.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text)
    first_probe = _sample(fam, "regimedesk_health_value", "regimedesk_health_value", check="broker latency")
    second_probe = _sample(again, "regimedesk_health_value", "regimedesk_health_value", check="broker latency")
    with ctx.store.read() as session:
        runs_now = session.scalar(select(func.count(func.distinct(HealthResult.ts))))
    if runs_now == (health_runs_before or 0) + 1:  # no new health run between the two scrapes
        assert first_probe == second_probe
    # a logged-in session may read /metrics too
    assert client.get("/metrics").status_code == 200


def test_readyz_stays_200_when_the_engine_is_dead_and_api_health_says_why(any_db_url: str, serve) -> None:  # type: ignore[no-untyped-def]
    from engine.store.migrate import open_store

    open_store(any_db_url, migrate=True).dispose()
    served = serve(any_db_url, engine=False, engine_mode="none")
    ready = served.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}
    client = login_client(served.app, "viewer")
    relaxed = client.get("/api/health")
    assert relaxed.status_code == 200
    checks = {c["name"]: c for c in relaxed.get_json()["checks"]}
    assert checks["engine heartbeat"]["status"] == "unhealthy"
    assert checks["health results"]["status"] == "degraded"
    assert client.get("/api/health?strict=1").status_code == 503  # for uptime monitors that want a code
    assert served.get("/healthz").status_code == 200


def test_readyz_is_503_when_the_schema_is_behind_and_healthz_never_touches_the_store(tmp_path, serve) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "regimedesk.db"
    served = serve(f"sqlite:///{db}", engine=False)
    assert served.get("/readyz").status_code == 200
    _store(served).dispose()
    db.unlink()  # the next connection opens a new, empty database: no schema at all
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"regimedesk.db{suffix}").unlink(missing_ok=True)
    not_ready = served.get("/readyz")
    assert not_ready.status_code == 503
    assert not_ready.json()["status"] == "not ready" and "python -m engine migrate" in not_ready.json()["reason"]
    assert served.get("/healthz").status_code == 200


def test_readyz_is_503_when_postgresql_is_unreachable(pg_server_url: str, serve) -> None:  # type: ignore[no-untyped-def]
    import uuid

    import psycopg

    from engine.store.migrate import open_store
    from tests.conftest import PG_ADMIN_URL

    name = f"regimedesk_ready_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(PG_ADMIN_URL, autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    try:
        open_store(url, migrate=True).dispose()
        served = serve(url, engine=False, engine_mode="none")
        assert served.get("/readyz").status_code == 200
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        not_ready = served.get("/readyz")
        assert not_ready.status_code == 503
        assert not_ready.json()["reason"].startswith("store unreachable")
        assert served.get("/healthz").status_code == 200
        scrape = served.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})  # still answers, and says so
        assert scrape.status_code == 200
        fam = _families(scrape.text)
        assert _sample(fam, "regimedesk_store_up", "regimedesk_store_up") == 0
        assert _sample(fam, "regimedesk_health_status", "regimedesk_health_status", check="database") == 2
        assert _sample(fam, "regimedesk_health_status", "regimedesk_health_status", check="engine heartbeat") == 2
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
