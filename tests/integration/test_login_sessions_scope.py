"""Defect: "Log out" ended every session of the user (every browser and device), not just this one. Now it ends this
session only (a copy of its cookie included); "Log out everywhere" (POST /logout/everywhere with the session's CSRF
token) ends all of them, audited as the user; an admin's password change or disable still ends all of them. The
real app on threaded servers (free 127.0.0.1 ports), two of them on one store as two web workers; SQLite and
PostgreSQL."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from sqlalchemy import select

from engine.auth import users
from engine.clock import utcnow
from engine.store.keyvalue import put_value
from engine.store.migrate import open_store
from engine.store.models import AuditEvent
from tests.auth_helpers import ensure_user
from tests.integration.test_auth_login_names_and_logout import CSRF, LAYOUT_CSRF, Served, _store, served_apps
from tests.waiting import wait_for

SECRET = "a-shared-secret-for-two-workers-0123456789"
PASSWORD = "tom-has-a-long-passw0rd"


@pytest.fixture
def serve(test_settings: Any, any_db_url: str) -> Iterator[Callable[[], Served]]:
    """Start another web worker (no engine) on the test's store: (app, base URL)."""
    with served_apps(test_settings, any_db_url) as start:
        yield lambda: start(secret_key=SECRET)


def _browser(base: str, name: str, password: str) -> requests.Session:
    """A browser logged in through the login form."""
    browser = requests.Session()
    token = CSRF.search(browser.get(base + "/login", timeout=30).text)
    assert token
    answer = browser.post(base + "/login", data={"username": name, "password": password, "csrf_token": token.group(1)},
                          allow_redirects=False, timeout=60)
    assert answer.status_code == 302, answer.text[:300]
    return browser


def _token(browser: requests.Session, base: str) -> str:
    """The token the navbar's forms were rendered with (what a press of Log out posts)."""
    match = LAYOUT_CSRF.search(browser.get(base + "/_dash-layout", timeout=30).text)
    assert match
    return match.group(1)


def _copy(browser: requests.Session) -> requests.Session:
    """Another client carrying a copy of the browser's session cookie."""
    copy = requests.Session()
    copy.cookies.set("regimedesk_session", browser.cookies.get("regimedesk_session"), domain="127.0.0.1")
    return copy


def _in(session: requests.Session, base: str) -> bool:
    """Logged in: /api/state answers (200, or 503 without an engine) instead of 401."""
    return session.get(base + "/api/state", timeout=30).status_code != 401


def _events(app: Any, action: str) -> list[tuple[str, str, str, str, dict[str, Any]]]:
    with _store(app).read() as s:
        rows = s.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))
        return [(e.actor, e.target, e.role, e.outcome, e.details) for e in rows]


def test_logout_ends_only_this_session_and_an_admin_change_still_ends_all(serve: Callable[[], Served]) -> None:
    app, base = serve()
    name, password = ensure_user(app, "trader", "tara")
    here, there = _browser(base, name, password), _browser(base, name, password)  # two devices of one trader
    copied = _copy(here)
    assert _in(copied, base)
    pressed = here.post(base + "/logout", data={"csrf_token": _token(here, base)}, allow_redirects=False, timeout=30)
    assert pressed.status_code == 302 and pressed.headers["Location"].endswith("/login")
    assert not _in(here, base) and not _in(copied, base)  # this session ended, a copy of its cookie too
    assert _in(there, base)  # before: the other device was logged out as well
    assert _events(app, "auth.logout") == [("web:tara", "tara", "trader", "ok", {"sessions_ended": "this session"})]
    again = _browser(base, name, password)  # logging in again on this device works at once
    assert _in(again, base) and _in(there, base) and not _in(copied, base)
    users.set_password(_store(app), utcnow(), "cli:test", name, "a-brand-new-passw0rd")  # ends every session
    assert not _in(again, base) and not _in(there, base)
    anna, anna_password = ensure_user(app, "viewer", "anna")
    one, two = _browser(base, anna, anna_password), _browser(base, anna, anna_password)
    users.set_disabled(_store(app), utcnow(), "cli:test", anna, True)
    assert not _in(one, base) and not _in(two, base)


def test_log_out_everywhere_ends_every_session_of_the_user_in_every_worker(serve: Callable[[], Served]) -> None:
    (app, base), (_app_b, base_b) = serve(), serve()
    name, password = ensure_user(app, "viewer", "vic")  # the least role may do it for themselves
    desk, phone, on_b = _browser(base, name, password), _browser(base, name, password), _browser(base_b, name, password)
    other = _browser(base, *ensure_user(app, "admin"))
    for forged in ({"csrf_token": "not-the-token"}, {}):  # the session's own token is needed: 403, nothing ends
        refused = desk.post(base + "/logout/everywhere", data=forged, allow_redirects=False, timeout=30)
        assert refused.status_code == 403 and "CSRF" in refused.text
    cross = desk.post(base + "/logout/everywhere", data={"csrf_token": _token(desk, base)},
                      headers={"Origin": "https://evil.example"}, allow_redirects=False, timeout=30)
    assert cross.status_code == 403
    assert _in(desk, base) and _in(phone, base) and _in(on_b, base_b) and _events(app, "auth.logout_everywhere") == []
    pressed = desk.post(base + "/logout/everywhere", data={"csrf_token": _token(desk, base)}, allow_redirects=False,
                        timeout=30)
    assert pressed.status_code == 302 and pressed.headers["Location"] == "/login?ended=ended"
    assert "You are logged out on every browser and device." in desk.get(base + pressed.headers["Location"],
                                                                           timeout=30).text
    assert not _in(desk, base) and not _in(phone, base)
    assert wait_for(lambda: not _in(on_b, base_b), timeout_s=5.0)  # the other worker within its 2 s user cache
    assert _in(other, base)  # another user's session is untouched
    assert _events(app, "auth.logout_everywhere") == [
        ("web:vic", "vic", "viewer", "ok", {"sessions_ended": "all of this user's sessions"})]
    late = desk.post(base + "/logout/everywhere", data={"csrf_token": "x"}, allow_redirects=False, timeout=30)
    assert late.status_code == 401  # no session any more: nothing to end, and nothing audited
    assert len(_events(app, "auth.logout_everywhere")) == 1
    assert _in(_browser(base_b, name, password), base_b)  # logging in again works at once


def test_ended_sessions_are_forgotten_after_their_lifetime_and_never_grow_without_bound(any_db_url: str) -> None:
    """The store side (engine.auth.user_sessions): an ended id is kept until the session's absolute expiry, and a
    user with more than MAX_ENDED live ended ids has all sessions ended instead (the epoch), the list emptied."""
    from engine.auth import user_sessions  # local import: a new module; the tests above run without it too

    store = open_store(any_db_url, migrate=True)
    try:
        user = users.add_user(store, utcnow(), "cli:test", "tom", "viewer", PASSWORD)
        wall = time.time()
        user_sessions.end_session(store, utcnow(), "web:tom", user.id, "tom", "old", wall - 1)  # already expired
        user_sessions.end_session(store, utcnow(), "web:tom", user.id, "tom", "kept", wall + 3600)
        state = user_sessions.session_user(store, user.id)
        assert state.ended == {"kept"} and state.user is not None and state.user.session_epoch == 0
        with store.write() as s:  # as after MAX_ENDED logouts of sessions still within their lifetime
            put_value(s, f"{user_sessions.ENDED_PREFIX}{user.id}",
                      {f"s{i}": wall + 3600 for i in range(user_sessions.MAX_ENDED)}, utcnow())
        user_sessions.end_session(store, utcnow(), "web:tom", user.id, "tom", "one-more", wall + 3600)
        state = user_sessions.session_user(store, user.id)
        assert state.ended == frozenset() and state.user is not None and state.user.session_epoch == 1
        with store.read() as s:
            details = [e.details["sessions_ended"] for e in s.scalars(
                select(AuditEvent).where(AuditEvent.action == "auth.logout").order_by(AuditEvent.id))]
        assert details == ["this session", "this session",
                           "all of this user's sessions (too many ended sessions to remember one by one)"]
    finally:
        store.dispose()
