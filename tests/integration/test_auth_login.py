"""Login, logout, expiry, lockout, rate limit, first-run setup, Host allow-list, CSRF, security
headers, and the refusal to bind publicly without users and a secret. SQLite and PostgreSQL."""
from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import select

from engine.store.models import AuditEvent
from tests.auth_helpers import PASSWORDS, csrf_from, ensure_user, login_client


def make_app(test_settings: Any, db_url: str, **overrides: object) -> Any:
    from app import create_app

    return create_app(test_settings(database_url=db_url, warmup_polls=10, **overrides), start_engine=False)


def store_of(app: Any) -> Any:
    from webapp.context import EXTENSION_KEY

    return app.server.extensions[EXTENSION_KEY].store


def post_login(client: Any, name: str, password: str, **extra: str) -> Any:
    token = csrf_from(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"username": name, "password": password, "csrf_token": token, **extra})


def audit_actions(app: Any, prefix: str = "auth.") -> list[tuple[str, str, str]]:
    with store_of(app).read() as s:
        rows = s.scalars(select(AuditEvent).where(AuditEvent.action.startswith(prefix)).order_by(AuditEvent.id))
        return [(e.action, e.target, e.outcome) for e in rows]


@pytest.fixture
def app(test_settings, any_db_url):  # type: ignore[no-untyped-def]
    return make_app(test_settings, any_db_url)


def test_login_logout_and_the_pages_in_between(app) -> None:  # type: ignore[no-untyped-def]
    ensure_user(app, "trader", "tina")
    client = app.server.test_client()
    assert client.get("/trading").status_code == 302
    wrong = post_login(client, "tina", "not-her-password")
    assert wrong.status_code == 401 and "wrong user name or password" in wrong.get_data(as_text=True)
    unknown = post_login(client, "nobody", "whatever-password")
    assert unknown.status_code == 401 and "wrong user name or password" in unknown.get_data(as_text=True)
    ok = post_login(client, "tina", PASSWORDS["trader"], next="/trading")
    assert ok.status_code == 302 and ok.headers["Location"] == "/trading"
    assert client.get("/trading").status_code == 200
    assert client.get("/api/state").status_code in (200, 503)
    layout = client.get("/_dash-layout").get_data(as_text=True)
    assert "tina" in layout and "trader" in layout  # the navbar names the user and role
    token = client.get_cookie("_csrf_token").value
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/trading").status_code == 302
    assert client.get("/api/state").status_code == 401
    assert audit_actions(app) == [("auth.login", "tina", "failed"), ("auth.login", "nobody", "failed"),
                                  ("auth.login", "tina", "ok"), ("auth.logout", "tina", "ok")]
    with store_of(app).read() as s:  # a login row names the account's role and the address, as other web rows do
        logins = [(e.target, e.role, e.source) for e in s.scalars(select(AuditEvent).where(
            AuditEvent.action == "auth.login").order_by(AuditEvent.id))]
    assert logins == [("tina", "trader", "127.0.0.1"), ("nobody", "", "127.0.0.1"), ("tina", "trader", "127.0.0.1")]


def test_an_open_redirect_after_login_is_refused(app) -> None:  # type: ignore[no-untyped-def]
    ensure_user(app, "viewer")
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        response = post_login(app.server.test_client(), "viewer", PASSWORDS["viewer"], next=target)
        assert response.status_code == 302 and response.headers["Location"] == "/", target


def test_five_failures_lock_the_user_for_fifteen_minutes(app) -> None:  # type: ignore[no-untyped-def]
    from engine.auth import users

    ensure_user(app, "trader", "tom")
    client = app.server.test_client()
    for _ in range(5):
        assert post_login(client, "tom", "guess-guess-guess").status_code == 401
    locked = post_login(client, "tom", PASSWORDS["trader"])  # the right password no longer helps from here
    assert locked.status_code == 401 and "wrong user name or password" in locked.get_data(as_text=True)
    from engine.clock import utcnow

    assert users.locked_addresses(store_of(app), utcnow()) == {"tom": ["127.0.0.1"]}  # the test client's address
    assert ("auth.lockout", "tom", "locked") in audit_actions(app)
    # an admin's new password lifts the lock
    users.set_password(store_of(app), utcnow(), "cli:test", "tom", "a-fresh-password-42")
    assert post_login(app.server.test_client(), "tom", "a-fresh-password-42").status_code == 302


def test_lockout_window_counts_only_the_last_fifteen_minutes(app) -> None:  # type: ignore[no-untyped-def]
    """Four failures long ago plus one now do not lock (hand-computed: 1 failure inside the window)."""
    from datetime import timedelta

    from engine.auth import users
    from engine.clock import utcnow

    ensure_user(app, "viewer", "vera")
    store = store_of(app)
    long_ago = utcnow() - timedelta(minutes=16)
    for _ in range(4):
        users.authenticate(store, long_ago, "vera", "nope-nope-nope", "127.0.0.1")
    assert users.authenticate(store, utcnow(), "vera", "nope-nope-nope", "127.0.0.1").status == "bad"
    assert users.authenticate(store, utcnow(), "vera", PASSWORDS["viewer"], "127.0.0.1").ok


def test_failed_logins_per_address_are_rate_limited(test_settings, any_db_url) -> None:  # type: ignore[no-untyped-def]
    app = make_app(test_settings, any_db_url, login_rate_limit="3 per minute")
    ensure_user(app, "viewer")
    client = app.server.test_client()
    codes = [post_login(client, f"user{i}", "wrong-password-1").status_code for i in range(4)]
    assert codes == [401, 401, 401, 429]
    other = app.server.test_client()
    other.environ_base["REMOTE_ADDR"] = "127.0.0.2"  # another address is not limited
    assert post_login(other, "viewer", PASSWORDS["viewer"]).status_code == 302


def test_a_disabled_user_and_a_changed_role_end_open_sessions(app) -> None:  # type: ignore[no-untyped-def]
    from engine.auth import users
    from engine.clock import utcnow

    client = login_client(app, "trader", "ted")
    assert client.get("/api/state").status_code in (200, 503)
    users.set_role(store_of(app), utcnow(), "cli:test", "ted", "viewer")
    assert client.get("/api/state").status_code == 401
    client = login_client(app, "trader", "ted")  # logs in again (password unchanged), now as a viewer
    assert "viewer" in client.get("/_dash-layout").get_data(as_text=True)
    users.set_disabled(store_of(app), utcnow(), "cli:test", "ted")
    assert client.get("/api/state").status_code == 401
    refused = post_login(app.server.test_client(), "ted", PASSWORDS["trader"])
    assert refused.status_code == 401 and "disabled" in refused.get_data(as_text=True)


def test_idle_and_absolute_expiry(test_settings, any_db_url) -> None:  # type: ignore[no-untyped-def]
    idle = make_app(test_settings, any_db_url, session_idle_minutes=0.02)  # 1.2 s
    client = login_client(idle, "viewer")
    assert client.get("/api/state").status_code in (200, 503)
    time.sleep(1.5)
    assert client.get("/api/state").status_code == 401
    assert any(a[0] == "auth.session_expired" for a in audit_actions(idle))
    absolute = make_app(test_settings, any_db_url, session_idle_minutes=60, session_max_hours=0.0005)  # 1.8 s
    client = login_client(absolute, "viewer", "val")
    for _ in range(3):  # activity does not extend an absolute limit
        assert client.get("/api/state").status_code in (200, 503)
        time.sleep(0.4)
    time.sleep(1.0)
    assert client.get("/api/state").status_code == 401


def test_first_run_setup_link(app) -> None:  # type: ignore[no-untyped-def]
    from engine.auth import setup_token, users
    from engine.clock import utcnow

    client = app.server.test_client()
    hint = client.get("/login").get_data(as_text=True)
    assert "No user exists yet" in hint
    token = setup_token.issue(store_of(app), utcnow())
    assert client.get("/setup").status_code == 403
    assert client.get("/setup?token=wrong-token").status_code == 403
    page = client.get(f"/setup?token={token}")
    assert page.status_code == 200 and "Create the first admin" in page.get_data(as_text=True)
    csrf = csrf_from(page.get_data(as_text=True))
    form = {"token": token, "username": "ada", "password": "analytical-engine-1", "csrf_token": csrf}
    mismatch = client.post("/setup", data={**form, "password2": "something-else-123"})
    assert mismatch.status_code == 400 and users.count_users(store_of(app)) == 0
    weak = client.post("/setup", data={**form, "password": "short", "password2": "short"})
    assert weak.status_code == 400 and "at least 12 characters" in weak.get_data(as_text=True)
    created = client.post("/setup", data={**form, "password2": "analytical-engine-1"})
    assert created.status_code == 302 and client.get("/").status_code == 200  # logged in as the new admin
    assert [(u.name, u.role) for u in users.list_users(store_of(app))] == [("ada", "admin")]
    again = app.server.test_client().get(f"/setup?token={token}")
    assert again.status_code == 403 and "closed" in again.get_data(as_text=True)


def test_setup_is_never_offered_off_loopback(test_settings, any_db_url) -> None:  # type: ignore[no-untyped-def]
    from engine.auth import setup_token
    from engine.clock import utcnow

    app = make_app(test_settings, any_db_url, host="10.1.2.3", allowed_hosts="localhost")
    token = setup_token.issue(store_of(app), utcnow())
    assert app.server.test_client().get(f"/setup?token={token}").status_code == 404


def test_only_allowed_host_headers_are_served(test_settings, any_db_url) -> None:  # type: ignore[no-untyped-def]
    app = make_app(test_settings, any_db_url, allowed_hosts="desk.example.org")
    client = app.server.test_client()
    assert client.get("/login", headers={"Host": "evil.example"}).status_code == 400
    assert client.get("/api/health", headers={"Host": "evil.example:8050"}).status_code == 400  # probes: any Host
    for host in ("127.0.0.1:8050", "localhost", "[::1]:8050", "desk.example.org"):
        assert client.get("/login", headers={"Host": host}).status_code == 200, host


def test_state_changing_requests_need_the_csrf_token(app) -> None:  # type: ignore[no-untyped-def]
    ensure_user(app, "admin")
    client = app.server.test_client()
    client.get("/login")
    no_token = client.post("/login", data={"username": "admin", "password": PASSWORDS["admin"]})
    assert no_token.status_code == 403
    logged = login_client(app, "admin")
    body = {"output": "..banner-state.children...banner-box.className..", "inputs": [], "state": []}
    assert logged.post("/_dash-update-component", json=body).status_code != 403  # with the header (set by login_client)
    del logged.environ_base["HTTP_X_CSRFTOKEN"]
    refused = logged.post("/_dash-update-component", json=body)
    assert refused.status_code == 403 and "CSRF" in refused.get_json()["error"]
    forged = logged.post("/_dash-update-component", json=body, headers={"X-CSRFToken": "forged"})
    assert forged.status_code == 403


def test_security_headers_and_cookies(app) -> None:  # type: ignore[no-untyped-def]
    client = login_client(app, "viewer")
    for path in ("/login", "/", "/_dash-layout", "/healthz"):
        headers = client.get(path).headers
        csp = headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "'unsafe-eval'" not in csp
        assert "script-src 'self' 'sha256-" in csp  # Dash's inline scripts by hash, nothing else inline
        assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"
        assert headers["Server"] == "RegimeDesk"
    fresh = app.server.test_client()
    cookies = fresh.get("/login").headers.getlist("Set-Cookie")
    session_cookie = next(c for c in cookies if c.startswith("regimedesk_session="))
    assert "HttpOnly" in session_cookie and "SameSite=Lax" in session_cookie and "Secure" not in session_cookie
    csrf_cookie = next(c for c in cookies if c.startswith("_csrf_token="))
    assert "SameSite=Strict" in csrf_cookie and "HttpOnly" not in csrf_cookie
    https = fresh.get("/login", base_url="https://localhost").headers.getlist("Set-Cookie")
    assert all("Secure" in c for c in https if c.startswith(("regimedesk_session=", "_csrf_token=")))


def test_binding_off_loopback_needs_users_and_a_strong_secret(test_settings, any_db_url) -> None:  # type: ignore[no-untyped-def]
    from webapp.auth.first_run import refuse_unsafe_binding

    assert refuse_unsafe_binding(test_settings(database_url=any_db_url)) == ""  # loopback: always fine
    public = {"database_url": any_db_url, "host": "0.0.0.0"}
    assert "REGIMEDESK_SECRET_KEY" in refuse_unsafe_binding(test_settings(**public))
    assert "REGIMEDESK_SECRET_KEY" in refuse_unsafe_binding(test_settings(**public, secret_key="change-me"))
    strong = "k" * 8 + "9f3Jx0-qLm2vB7nR4tY6uI8oP1aS5dF"
    assert "no user exists" in refuse_unsafe_binding(test_settings(**public, secret_key=strong))
    app = make_app(test_settings, any_db_url)
    ensure_user(app, "admin")
    assert refuse_unsafe_binding(test_settings(**public, secret_key=strong)) == ""


def test_forwarded_addresses_count_only_behind_configured_proxies(test_settings, any_db_url) -> None:  # type: ignore[no-untyped-def]
    from engine.auth import users

    for proxies, expected in ((0, "127.0.0.1"), (1, "203.0.113.9")):
        app = make_app(test_settings, any_db_url, trusted_proxies=proxies)
        ensure_user(app, "viewer", f"pat{proxies}")
        client = app.server.test_client()
        client.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.9"
        assert post_login(client, f"pat{proxies}", PASSWORDS["viewer"]).status_code == 302
        with store_of(app).read() as s:
            event = s.scalars(select(AuditEvent).where(AuditEvent.action == "auth.login",
                                                       AuditEvent.target == f"pat{proxies}")).one()
        assert event.source == expected, proxies
    assert users.MAX_FAILURES == 5


def test_python_app_py_refuses_a_public_address_without_users_and_secret(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "REGIMEDESK_DATABASE_URL": f"sqlite:///{tmp_path}/x.db", "REGIMEDESK_HOST": "0.0.0.0",
           "REGIMEDESK_PORT": "1"}
    env.pop("REGIMEDESK_SECRET_KEY", None)
    done = subprocess.run([sys.executable, "app.py"], cwd=root, env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("refusing to listen on 0.0.0.0: set REGIMEDESK_SECRET_KEY")


def test_a_web_post_writes_before_the_engine_and_a_get_does_not(app) -> None:  # type: ignore[no-untyped-def]
    """A person waits for a POST (login, a callback): its writes are urgent (engine/store/write_gate.py),
    so on SQLite they go before the engine's routine writes; the flag ends with the request."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    from engine.store import write_gate

    seen: list[tuple[str, bool]] = []

    def note(session: Session) -> None:
        seen.append((str(session.info.get("where", "")), write_gate.is_urgent()))

    event.listen(Session, "before_commit", note)
    try:
        ensure_user(app, "viewer")
        seen.clear()
        assert post_login(app.server.test_client(), "viewer", PASSWORDS["viewer"]).status_code == 302
        after_post = list(seen)
        seen.clear()
        with store_of(app).write() as s:  # outside any request
            s.info["where"] = "outside"
    finally:
        event.remove(Session, "before_commit", note)
    assert after_post and all(urgent for _, urgent in after_post), after_post  # the login's audit, the user's row
    assert seen == [("outside", False)]
