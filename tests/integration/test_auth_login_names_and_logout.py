"""Audit2 findings 1-4 against the real app on a threaded server (a free 127.0.0.1 port), SQLite and PostgreSQL:
a NUL byte in the login name is a wrong name (PostgreSQL answered 500 and recorded nothing), a NUL byte in an
/audit.csv filter is no error (500 on PostgreSQL), "Log out" from a stale tab or after expiry ends the session
and shows the login page (raw JSON 403/401, session left alive), and the name is found regardless of case and
surrounding spaces."""
from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests
from sqlalchemy import select
from werkzeug.serving import make_server

from engine.store.models import AuditEvent, LoginAttempt
from tests.auth_helpers import PASSWORDS, ensure_user

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
LAYOUT_CSRF = re.compile(r'"value":"([^"]+)","type":"hidden","name":"csrf_token"')
WRONG = "wrong user name or password"
Served = tuple[Any, str]


@contextmanager
def served_apps(test_settings: Any, db_url: str) -> Iterator[Callable[..., Served]]:
    """Start the app (no engine) on a real server with these settings overrides; (app, base URL). Every server
    started is shut down on leaving."""
    from app import create_app

    servers: list[tuple[Any, threading.Thread]] = []

    def start(**overrides: object) -> Served:
        app = create_app(test_settings(database_url=db_url, warmup_polls=10, login_rate_limit="1000 per minute",
                                       **overrides), start_engine=False)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        server = make_server("127.0.0.1", 0, app.server, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append((server, thread))
        return app, f"http://127.0.0.1:{server.server_port}"

    try:
        yield start
    finally:
        for server, thread in servers:
            server.shutdown()
            thread.join(timeout=10)


@pytest.fixture
def serve(test_settings: Any, any_db_url: str) -> Iterator[Callable[..., Served]]:
    """Start the app (no engine) on a real server with these settings overrides; (app, base URL)."""
    with served_apps(test_settings, any_db_url) as start:
        yield start


def _store(app: Any) -> Any:
    from webapp.context import EXTENSION_KEY

    return app.server.extensions[EXTENSION_KEY].store


def _post_login(base: str, name: str, password: str, session: requests.Session | None = None) -> requests.Response:
    session = session or requests.Session()
    match = CSRF.search(session.get(base + "/login", timeout=30).text)
    assert match
    return session.post(base + "/login", data={"username": name, "password": password, "csrf_token": match.group(1)},
                        allow_redirects=False, timeout=60)


def _logins(app: Any) -> list[tuple[str, str, str]]:
    with _store(app).read() as s:
        return [(e.actor, e.target, e.outcome) for e in s.scalars(
            select(AuditEvent).where(AuditEvent.action.in_(["auth.login", "auth.lockout"])).order_by(AuditEvent.id))]


def test_a_nul_byte_in_the_login_name_is_a_wrong_name(serve: Callable[..., Served]) -> None:
    app, base = serve()
    ensure_user(app, "admin")
    for name in ("admin\x00", "adm\x00in"):
        response = _post_login(base, name, PASSWORDS["admin"])
        assert response.status_code == 401 and WRONG in response.text, (name, response.text[:200])
    assert _logins(app) == [("web:admin\ufffd", "admin\ufffd", "failed"), ("web:adm\ufffdin", "adm\ufffdin", "failed")]
    with _store(app).read() as s:
        assert sorted(s.scalars(select(LoginAttempt.username))) == ["admin\ufffd", "adm\ufffdin"]
    for i in range(4):  # with the first above: the 5th failure of 'admin\x00' from this address locks it
        assert _post_login(base, "admin\x00", f"guess-{i}").status_code == 401
    assert _logins(app)[-2:] == [("web:admin\ufffd", "admin\ufffd", "failed"),
                                 ("system:auth", "admin\ufffd", "locked")]


def test_the_name_is_found_regardless_of_case_and_spaces(serve: Callable[..., Served]) -> None:
    app, base = serve()
    ensure_user(app, "admin", "ada")
    for typed in ("Ada", "ada ", " ADA"):
        assert _post_login(base, typed, PASSWORDS["admin"]).status_code == 302, typed
    assert _logins(app) == [("web:ada", "ada", "ok")] * 3  # audited under the account's own spelling
    # 64 valid characters then more: not cut to the first 64 (that logged in as the 64-character user)
    long_name = "a" * 64
    ensure_user(app, "viewer", long_name)
    assert _post_login(base, long_name + "x", PASSWORDS["viewer"]).status_code == 401
    # failures under any spelling count toward ada's one lockout: 5 wrong, then her right password is refused
    for typed in ("ADA", "Ada", "ada ", " ada", "aDa"):
        assert _post_login(base, typed, "not-her-password").status_code == 401
    refused = _post_login(base, "ada", PASSWORDS["admin"])
    assert refused.status_code == 401 and WRONG in refused.text
    assert [row for row in _logins(app) if row[0] == "system:auth"] == [("system:auth", "ada", "locked")]


def test_a_nul_byte_in_an_audit_csv_filter_is_no_error(serve: Callable[..., Served]) -> None:
    app, base = serve()
    ensure_user(app, "admin")
    assert _post_login(base, "ti\x00na", "whatever-password").status_code == 401
    admin = requests.Session()
    assert _post_login(base, "admin", PASSWORDS["admin"], admin).status_code == 302
    found = admin.get(base + "/audit.csv?user=ti%00na", timeout=30)
    assert found.status_code == 200 and found.headers["Content-Type"].startswith("text/csv")
    rows = found.text.strip().splitlines()
    assert len(rows) == 2 and ",web:ti\ufffdna," in rows[1] and ",auth.login," in rows[1]  # only the NUL login
    for query in ("action=users%00", "outcome=%00", "kind=%00", "user=%00&action=auth%00"):
        response = admin.get(f"{base}/audit.csv?{query}", timeout=30)
        assert response.status_code == 200 and response.text.strip().splitlines()[0].startswith("id,ts,"), query


def _layout_token(session: requests.Session, base: str) -> str:
    """The token the navbar's logout form was rendered with (what a tab posts when Log out is pressed)."""
    match = LAYOUT_CSRF.search(session.get(base + "/_dash-layout", timeout=30).text)
    assert match
    return match.group(1)


def test_log_out_from_a_tab_older_than_the_last_login(serve: Callable[..., Served]) -> None:
    app, base = serve()
    ensure_user(app, "admin", "ada")
    browser = requests.Session()  # one cookie jar: the browser's two tabs
    assert _post_login(base, "ada", PASSWORDS["admin"], browser).status_code == 302
    tab_a = _layout_token(browser, base)
    # tab B: log out, log in again (a new session with a new token)
    assert browser.post(base + "/logout", data={"csrf_token": _layout_token(browser, base)},
                        allow_redirects=False, timeout=30).status_code == 302
    assert _post_login(base, "ada", PASSWORDS["admin"], browser).status_code == 302
    assert browser.get(base + "/api/state", timeout=30).status_code != 401
    pressed = browser.post(base + "/logout", data={"csrf_token": tab_a}, headers={"Origin": base},
                           allow_redirects=False, timeout=30)
    assert pressed.status_code == 302 and pressed.headers["Location"].endswith("/login")
    assert browser.get(base + "/api/state", timeout=30).status_code == 401
    with _store(app).read() as s:
        assert list(s.scalars(select(AuditEvent.target).where(AuditEvent.action == "auth.logout"))) == ["ada", "ada"]


def test_log_out_after_the_session_expired_shows_the_login_page(serve: Callable[..., Served]) -> None:
    app, base = serve(session_idle_minutes=0.03)  # 1.8 s
    ensure_user(app, "viewer")
    browser = requests.Session()
    assert _post_login(base, "viewer", PASSWORDS["viewer"], browser).status_code == 302
    token = _layout_token(browser, base)
    time.sleep(2.5)
    pressed = browser.post(base + "/logout", data={"csrf_token": token}, allow_redirects=False, timeout=30)
    assert pressed.status_code == 302 and pressed.headers["Location"].endswith("/login")
    assert browser.get(base + "/login", timeout=30).status_code == 200
    with _store(app).read() as s:
        assert list(s.scalars(select(AuditEvent.action).where(AuditEvent.action.startswith("auth.session")))) == [
            "auth.session_expired"]


def test_a_logout_from_another_site_is_still_refused(serve: Callable[..., Served]) -> None:
    app, base = serve()
    ensure_user(app, "viewer")
    browser = requests.Session()
    assert _post_login(base, "viewer", PASSWORDS["viewer"], browser).status_code == 302
    forged = browser.post(base + "/logout", data={"csrf_token": "x"}, headers={"Origin": "https://evil.example"},
                          allow_redirects=False, timeout=30)
    assert forged.status_code == 403
    assert browser.get(base + "/api/state", timeout=30).status_code != 401  # still logged in


def test_the_audit_page_filter_takes_a_nul_and_a_lone_surrogate(serve: Callable[..., Served]) -> None:
    """The page's own callback gets the filter as JSON, which can carry a lone surrogate ("\\ud800") besides a
    NUL: PostgreSQL refused the first, the driver could not encode the second (SQLite's too): a 500 either way."""
    from tests import web_requests as wr

    app, base = serve()
    ensure_user(app, "admin")
    assert _post_login(base, "ti\x00na", "whatever-password").status_code == 401
    admin = requests.Session()
    assert _post_login(base, "admin", PASSWORDS["admin"], admin).status_code == 302
    admin.headers["X-CSRFToken"] = admin.cookies.get("_csrf_token") or ""
    deps = admin.get(base + "/_dash-dependencies", timeout=30).json()
    grid = wr.find(deps, "audit-grid.rowData")
    user_at = wr.position(grid, "audit-filter-user", "value")
    counts = {}
    for typed in ("ti\x00na", "ti\ud800na", "\x00", "x\x00"):
        body = wr.build_body(grid, {user_at: typed})
        response = admin.post(base + wr.CALLBACK_URL, json=body, timeout=30)
        assert response.status_code == 200, (typed, response.text[:200])
        counts[typed] = len(response.json()["response"]["audit-grid"]["rowData"])
    # each matches as U+FFFD, the form the one odd row was stored in ('ti\ufffdna'); "x\ufffd" is in no row
    assert counts == {"ti\x00na": 1, "ti\ud800na": 1, "\x00": 1, "x\x00": 0}


def test_names_differing_only_in_case_from_an_older_store_need_the_exact_spelling(
        serve: Callable[..., Served]) -> None:
    from engine.clock import utcnow
    from engine.store.models import User

    app, base = serve()
    ensure_user(app, "viewer", "ann")
    with _store(app).write() as s:  # as a store from before add_user's case rule could hold it
        ann = s.scalar(select(User).where(User.name == "ann"))
        assert ann is not None
        s.add(User(name="Ann", role="admin", password_hash=ann.password_hash, disabled=False, session_epoch=0,
                   locked_until=None, created_at=utcnow(), updated_at=utcnow()))
    assert _post_login(base, "ANN", PASSWORDS["viewer"]).status_code == 401  # which of the two: neither
    assert _post_login(base, " Ann ", PASSWORDS["viewer"]).status_code == 302
    assert _post_login(base, "ann", PASSWORDS["viewer"]).status_code == 302
    assert [row[1:] for row in _logins(app)] == [("ANN", "failed"), ("Ann", "ok"), ("ann", "ok")]
