"""Logout ends the session on the server: a `regimedesk_session` cookie copied before POST /logout (with its
CSRF token) is refused afterwards, in this web process and in another one on the same store; the user's other
sessions stay open (log out everywhere: test_login_sessions_scope.py). SQLite and PostgreSQL."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from engine.store.models import AuditEvent
from tests.auth_helpers import login_client
from tests.waiting import wait_for

SECRET = "a-shared-secret-for-two-workers-0123456789"
BANNER = "..banner-state.children...banner-box.className.."
BANNER_BODY = {"output": BANNER,
               "outputs": [{"id": "banner-state", "property": "children"},
                           {"id": "banner-box", "property": "className"}],
               "inputs": [{"id": "banner-interval", "property": "n_intervals", "value": 1}], "state": [],
               "changedPropIds": ["banner-interval.n_intervals"]}


def make_app(test_settings: Any, db_url: str) -> Any:
    from app import create_app

    return create_app(test_settings(database_url=db_url, warmup_polls=10, secret_key=SECRET), start_engine=False)


def replay(app: Any, cookie: str, csrf: str) -> Any:
    """A fresh client carrying only the copied session cookie and the copied CSRF token."""
    client = app.server.test_client()
    client.set_cookie("regimedesk_session", cookie, domain="localhost")
    client.environ_base["HTTP_X_CSRFTOKEN"] = csrf
    return client


def test_a_session_cookie_copied_before_logout_is_refused_after_it(test_settings: Any, any_db_url: str) -> None:
    app = make_app(test_settings, any_db_url)
    client = login_client(app, "viewer", "vic")
    cookie = client.get_cookie("regimedesk_session").value
    csrf = client.environ_base["HTTP_X_CSRFTOKEN"]
    before = replay(app, cookie, csrf)
    assert before.get("/api/state").status_code in (200, 503)  # the copy works while the session is open
    assert before.post("/_dash-update-component", json=BANNER_BODY).status_code == 200
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 302
    after = replay(app, cookie, csrf)
    assert after.get("/api/state").status_code == 401
    page = after.get("/trading")
    assert page.status_code == 302 and page.headers["Location"].startswith("/login")
    assert after.post("/_dash-update-component", json=BANNER_BODY).status_code == 401
    from webapp.context import EXTENSION_KEY

    with app.server.extensions[EXTENSION_KEY].store.read() as s:
        row = s.scalars(select(AuditEvent).where(AuditEvent.action == "auth.logout")).one()
    assert row.target == "vic" and row.details.get("sessions_ended") == "this session"


def test_logout_ends_this_session_in_every_worker_and_no_other(test_settings: Any, any_db_url: str) -> None:
    """Design: logout remembers the session's id as ended in the store, so another web worker on the same store
    refuses the old cookie (within its 2 s user cache), while the same user's other session stays open."""
    worker_a, worker_b = make_app(test_settings, any_db_url), make_app(test_settings, any_db_url)
    first = login_client(worker_a, "trader", "tess")
    second = login_client(worker_a, "trader", "tess")
    cookie = first.get_cookie("regimedesk_session").value
    csrf = first.environ_base["HTTP_X_CSRFTOKEN"]
    on_b = replay(worker_b, cookie, csrf)
    assert on_b.get("/api/state").status_code in (200, 503)
    assert first.post("/logout", data={"csrf_token": csrf}).status_code == 302
    assert second.get("/api/state").status_code in (200, 503)  # another browser of the same user: still logged in
    assert wait_for(lambda: replay(worker_b, cookie, csrf).get("/api/state").status_code == 401, timeout_s=5.0)
    other = replay(worker_b, second.get_cookie("regimedesk_session").value, second.environ_base["HTTP_X_CSRFTOKEN"])
    assert other.get("/api/state").status_code in (200, 503)
    fresh = login_client(worker_b, "trader", "tess")  # logging in again works at once
    assert fresh.get("/api/state").status_code in (200, 503)
