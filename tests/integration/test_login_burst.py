"""Concurrent POST /login from one address against a real threaded werkzeug server (a free 127.0.0.1 port), on
SQLite and PostgreSQL: the lockout checks at most 5 passwords per (name, address) however many requests arrive
at once, and the per-address rate limit lets exactly its limit through (audit finding 2: a burst of 30 once had
29 passwords checked and 28-30 requests past "10 per minute")."""
from __future__ import annotations

import logging
import re
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sqlalchemy import func, select
from werkzeug.serving import make_server

from engine.auth import users
from engine.clock import utcnow
from engine.store.models import AuditEvent, LoginAttempt

BURST = 30
RIGHT = "bobs-real-passw0rd-xyz"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(test_settings: Any, any_db_url: str, request: pytest.FixtureRequest) -> Iterator[tuple[Any, str]]:
    """The app on a real threaded server; request.param (indirect parametrize) is its login rate limit."""
    from app import create_app

    limit = getattr(request, "param", "1000 per minute")
    app = create_app(test_settings(database_url=any_db_url, warmup_polls=10, login_rate_limit=limit),
                     start_engine=False)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server("127.0.0.1", _free_port(), app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def _store(app: Any) -> Any:
    from webapp.context import EXTENSION_KEY

    return app.server.extensions[EXTENSION_KEY].store


def _prepared(base: str) -> tuple[requests.Session, str]:
    session = requests.Session()
    match = CSRF.search(session.get(base + "/login", timeout=30).text)
    assert match
    return session, match.group(1)


def _burst(base: str, forms: list[dict[str, str]]) -> list[int]:
    """POST every form at once (a barrier releases them together); their status codes, in order."""
    prepared = [_prepared(base) for _ in forms]
    barrier = threading.Barrier(len(forms))
    codes = [0] * len(forms)

    def go(i: int) -> None:
        session, token = prepared[i]
        barrier.wait(timeout=30)
        codes[i] = session.post(base + "/login", data={**forms[i], "csrf_token": token}, allow_redirects=False,
                                headers={"Origin": base}, timeout=120).status_code

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(forms))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    return codes


def _outcomes(app: Any, name: str) -> dict[str, int]:
    with _store(app).read() as s:
        rows = s.execute(select(AuditEvent.outcome, func.count()).where(
            AuditEvent.action == "auth.login", AuditEvent.target == name).group_by(AuditEvent.outcome))
        return {outcome: count for outcome, count in rows}


def test_a_burst_of_wrong_passwords_checks_five_and_then_the_right_one_is_locked(served: tuple[Any, str]) -> None:
    app, base = served
    users.add_user(_store(app), utcnow(), "cli:test", "bob", "admin", RIGHT)
    codes = _burst(base, [{"username": "bob", "password": f"wrong-guess-{i:04d}"} for i in range(BURST)])
    assert Counter(codes) == {401: BURST}
    # "failed" = a password was checked and was wrong; "locked" = refused before any check (hand count: 5 + 25)
    assert _outcomes(app, "bob") == {"failed": 5, "locked": 25}
    with _store(app).read() as s:
        assert s.scalar(select(func.count()).select_from(LoginAttempt).where(LoginAttempt.ok.is_(True))) == 0
    session, token = _prepared(base)
    late = session.post(base + "/login", data={"username": "bob", "password": RIGHT, "csrf_token": token},
                        allow_redirects=False, headers={"Origin": base}, timeout=60)
    assert late.status_code == 401  # the lock holds for this address
    assert _outcomes(app, "bob") == {"failed": 5, "locked": 26}


@pytest.mark.parametrize("served", ["10 per minute"], indirect=True)
def test_the_rate_limit_lets_exactly_its_limit_through_a_burst(served: tuple[Any, str]) -> None:
    app, base = served
    # 30 different names, so the lockout (5 per name) plays no part: only the per-address limit refuses
    codes = _burst(base, [{"username": f"nobody{i}", "password": "wrong-password-1"} for i in range(BURST)])
    assert Counter(codes) == {401: 10, 429: 20}
