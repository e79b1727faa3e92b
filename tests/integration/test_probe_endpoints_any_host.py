"""A load balancer, a Kubernetes probe and Prometheus address an instance by its IP, so the Host header they send is
"<ip>:<port>", not a name in REGIMEDESK_ALLOWED_HOSTS: /healthz, /readyz and /metrics (with its bearer token) answer
them (webapp/auth/guard.py); every other route, and /metrics without the token, still answers 400 to such a Host.
Real HTTP on 127.0.0.1; SQLite and PostgreSQL."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from werkzeug.serving import make_server

TOKEN = "scrape-me-please-0123456789"
INSTANCE_IP = "10.0.3.17:8050"  # what an ALB target check, a kubelet httpGet probe and Prometheus send
SERVED = "desk.example.org"
REFUSED = "this Host is not served here"


@pytest.fixture
def base_url(test_settings: Any, any_db_url: str) -> Iterator[str]:
    from app import create_app

    app = create_app(test_settings(database_url=any_db_url, warmup_polls=10, metrics_token=TOKEN,
                                   allowed_hosts=SERVED), start_engine=False)
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


def _get(base_url: str, path: str, host: str, token: str | None = None, method: str = "GET") -> requests.Response:
    headers = {"Host": host, **({"Authorization": f"Bearer {token}"} if token else {})}
    return requests.request(method, base_url + path, headers=headers, timeout=10, allow_redirects=False)


def test_the_probes_answer_a_host_that_is_the_instances_ip(base_url: str) -> None:
    for host in (INSTANCE_IP, "10.0.3.17", SERVED):
        healthz = _get(base_url, "/healthz", host)
        assert (healthz.status_code, healthz.json()) == (200, {"status": "ok"}), host
        readyz = _get(base_url, "/readyz", host)
        assert (readyz.status_code, readyz.json()) == (200, {"status": "ready"}), host
        scrape = _get(base_url, "/metrics", host, TOKEN)
        assert scrape.status_code == 200, host
        assert "regimedesk_store_up 1.0" in scrape.text, host


def test_every_other_route_keeps_the_host_allow_list(base_url: str) -> None:
    for path in ("/login", "/api/health", "/", "/health"):
        refused = _get(base_url, path, INSTANCE_IP)
        assert refused.status_code == 400 and REFUSED in refused.json()["error"], path
    # /metrics without the token, or with a wrong one, is no probe: the Host check applies
    for token in (None, "not-the-token-0123456789"):
        refused = _get(base_url, "/metrics", INSTANCE_IP, token)
        assert refused.status_code == 400 and REFUSED in refused.json()["error"], token
    # a method the probes do not answer is no probe either
    posted = _get(base_url, "/healthz", INSTANCE_IP, method="POST")
    assert posted.status_code == 400 and REFUSED in posted.json()["error"]
    # the served name: /metrics without the token asks to log in, /login is shown
    assert _get(base_url, "/metrics", SERVED).status_code == 401
    assert _get(base_url, "/login", SERVED).status_code == 200
