"""Audit 23 #2: during a database outage a logged-in operator got errors: the Health page 500, its refresh 400
("inputs are not what this control expects"), /api/health (and ?strict=1) 500, /metrics 500. The session's user
could not be loaded and that failure became a 500.

Now: a login this process verified recently may still view (the Health page shows the database unhealthy,
/metrics answers store_up 0) and the health API answers 503 naming the outage; nothing more. A state-changing
callback is refused with 503, a session this process never verified gets 503 "cannot be verified", and a request
without a session is still 401 (authentication is not weakened).

PostgreSQL behind a TCP proxy this test runs (the shared server is never stopped); SQLite has no outage to play.
"""
from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy.engine import make_url

from engine.auth.roles import Role
from tests.auth_helpers import login_client
from tests.outage_proxy import OutageProxy
from tests.web_requests import CALLBACK_URL, build_body, dependencies
from webapp.auth.access import callback_role

TOKEN = "outage-health-metrics-token-0123456789"
PAST_USER_CACHE_S = 2.5  # the per-process user cache (webapp.auth.sessions.USER_CACHE_S = 2 s) has expired


def _app(url: str) -> Any:
    from app import create_app
    from engine.settings import load_settings

    return create_app(load_settings(database_url=url, warmup_polls=10, deadman_seconds=0, metrics_token=TOKEN),
                      start_engine=False)


def _trader_callback(app: Any, deps: list[dict[str, Any]]) -> dict[str, Any]:
    """Some callback only a trader may run (a state-changing action)."""
    callbacks = {**app.callback_map}
    import dash

    callbacks.update(dash._callback.GLOBAL_CALLBACK_MAP)
    for dep in deps:
        if callback_role(callbacks, dep["output"]) == Role.TRADER.value:
            return dep
    raise AssertionError("no trader callback found")


def test_a_logged_in_operator_sees_the_outage_not_errors(pg_url):
    url = make_url(pg_url)
    with OutageProxy((url.host or "127.0.0.1", url.port or 5432), lifetime_s=120) as proxy:
        app = _app(url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False))
        from webapp.context import EXTENSION_KEY

        store = app.server.extensions[EXTENSION_KEY].store
        try:
            viewer = login_client(app, "viewer", "vic")
            admin = login_client(app, "admin", "ada")
            anonymous = app.server.test_client()
            deps = dependencies(viewer)
            refresh = next(d for d in deps if "health-checks.children" in d["output"])
            action = _trader_callback(app, deps)
            assert viewer.get("/api/health").status_code == 200  # up: not strict, answered
            assert admin.get("/api/health").status_code == 200  # this process has verified both logins

            proxy.refuse()
            time.sleep(PAST_USER_CACHE_S)

            page = viewer.get("/health")
            assert page.status_code == 200, page.get_data(as_text=True)[:300]
            answer = viewer.post(CALLBACK_URL, json=build_body(refresh, {0: 1}))
            assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
            drawn = json.dumps(answer.get_json())
            assert "database" in drawn and "unhealthy" in drawn  # the checks table shows the outage

            for path in ("/api/health", "/api/health?strict=1"):
                response = viewer.get(path)
                assert response.status_code == 503, (path, response.status_code)
                body = response.get_json()
                assert "store is unreachable" in body["error"] and body["status"] == "unhealthy"
                database = next(c for c in body["checks"] if c["name"] == "database")
                assert database["status"] == "unhealthy"

            scrape = viewer.get("/metrics")
            assert scrape.status_code == 200 and "regimedesk_store_up 0.0" in scrape.get_data(as_text=True)

            refused = admin.post(CALLBACK_URL, json=build_body(action, {0: 1}))  # an admin may, but not unverified
            assert refused.status_code == 503, refused.get_data(as_text=True)[:300]
            assert "only viewing is allowed" in refused.get_json()["error"]

            assert anonymous.get("/api/health").status_code == 401  # no session: still refused, not let through

            from webapp.auth import sessions

            sessions._user_cache.clear()  # as a worker that never verified this login: nothing to fall back on
            unverified = viewer.get("/api/health")
            assert unverified.status_code == 503 and "cannot be verified" in unverified.get_json()["error"]
            assert viewer.get("/health").status_code == 503
        finally:
            proxy.restore()
        deadline = time.monotonic() + 30
        while viewer.get("/api/health").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert viewer.get("/api/health").status_code == 200  # back: the same session works again
        store.dispose()
