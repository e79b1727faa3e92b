"""Audit 23 #1: with PostgreSQL frozen (connections open, nothing answered), a Prometheus scrape of /metrics hung
until TCP gave up (about a minute) and held a web thread each time. Now the store part of a scrape is bounded
(webapp.metrics.METRICS_WAIT_S): the scrape answers 200 with regimedesk_store_up 0 in time, later scrapes share the
one blocked reader instead of stacking threads, and once the server answers again store_up is 1.

The outage is a TCP proxy this test runs on 127.0.0.1 (the shared server is never stopped). PostgreSQL only: an
SQLite file has no frozen server (another connection cannot even take an exclusive lock while the pool's WAL
connections are open), and its normal scrape is covered by test_health_endpoints.py.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url
from werkzeug.serving import make_server

from tests.outage_proxy import OutageProxy
from webapp.metrics import METRICS_WAIT_S

TOKEN = "frozen-store-scrape-token-0123456789"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
CLIENT_TIMEOUT_S = 15.0  # Prometheus would have given up after 10 s; the old code answered after about 60 s


def _store_up(text: str) -> float:
    for family in text_string_to_metric_families(text):
        if family.name == "regimedesk_store_up":
            return float(family.samples[0].value)
    raise AssertionError("no regimedesk_store_up in the scrape")


@pytest.fixture
def serve() -> Iterator[Any]:
    from app import create_app
    from engine.settings import load_settings

    servers: list[Any] = []

    def make(url: str) -> str:
        app = create_app(load_settings(database_url=url, warmup_polls=10, deadman_seconds=0, metrics_token=TOKEN),
                         start_engine=False)
        server = make_server("127.0.0.1", 0, app.server, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append((server, app))
        return f"http://127.0.0.1:{server.server_port}"

    yield make
    for server, app in servers:
        server.shutdown()
        from webapp.context import EXTENSION_KEY

        app.server.extensions[EXTENSION_KEY].store.dispose()


def _scrape(base: str) -> tuple[int, float, str]:
    t0 = time.monotonic()
    try:
        response = requests.get(base + "/metrics", headers=BEARER, timeout=CLIENT_TIMEOUT_S)
    except requests.Timeout:
        return 0, time.monotonic() - t0, ""
    return response.status_code, time.monotonic() - t0, response.text


def _reader_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "metrics-read" and t.is_alive())


def test_a_scrape_answers_store_up_0_in_time_when_postgresql_freezes(serve, pg_url):
    url = make_url(pg_url)
    with OutageProxy((url.host or "127.0.0.1", url.port or 5432), lifetime_s=120) as proxy:
        base = serve(url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False))
        try:
            status, _took, text = _scrape(base)
            assert status == 200 and _store_up(text) == 1.0  # warm: the pool holds open connections now
            proxy.freeze()
            answers = [_scrape(base) for _ in range(3)]
            for status, took, text in answers:
                assert status == 200, f"no answer within {CLIENT_TIMEOUT_S} s (took {took:.1f} s)"
                assert _store_up(text) == 0.0
                assert took < METRICS_WAIT_S + 4.0, took  # its bound (4 s) and slack for a loaded machine
                assert 'regimedesk_health_status{check="database"} 2.0' in text  # unhealthy, said in time
            assert answers[1][1] < 2.0 and answers[2][1] < 2.0  # past the bound: later scrapes do not wait again
            assert _reader_threads() <= 1  # one blocked reader, not one per scrape
            t0 = time.monotonic()
            assert requests.get(base + "/healthz", timeout=5).status_code == 200
            assert time.monotonic() - t0 < 2.0
            proxy.thaw()
            deadline = time.monotonic() + 90  # the blocked reader finishes once the server answers
            up = 0.0
            while time.monotonic() < deadline and up != 1.0:
                status, _took, text = _scrape(base)
                up = _store_up(text) if status == 200 else 0.0
                time.sleep(0.5)
            assert up == 1.0, "store_up stayed 0 after the server answered again"
        finally:
            proxy.restore()
