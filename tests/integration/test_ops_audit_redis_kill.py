"""Kill switch with Redis down (audit 4, defect 2): the HALT commits, and the trader reads that it did.

A real redis-server on a free port (started and stopped here), the app served over real HTTP on 127.0.0.1, the
store on SQLite and PostgreSQL. The live cache's invalidation after a control is best effort and bounded: with
Redis gone (refused, or hung) the answer is "halt done" with a note, never "nothing was changed".
The helpers here (RedisServer, served, login) are shared with the other test_ops_audit_* files."""
from __future__ import annotations

import re
import secrets
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests
from werkzeug.serving import make_server

from tests.conftest import skip_or_fail
from tests.mute_server import MuteServer
from tests.web_requests import CALLBACK_URL, build_body, find, position


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A private redis-server on 127.0.0.1 (no persistence) that a test can stop and start again."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            skip_or_fail("redis-server is not installed (apt-get install redis-server)")
        self.binary = str(binary)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start it and wait (bounded) until it answers PING."""
        import redis

        self.proc = subprocess.Popen([self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5, socket_timeout=0.5)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    return
            except redis.RedisError:
                time.sleep(0.05)
        self.stop()
        skip_or_fail(f"redis-server did not answer on port {self.port} within 10 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def served(app: Any) -> Iterator[str]:
    """The app's Flask server on a free 127.0.0.1 port, threaded like gunicorn's gthread worker."""
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def login(base: str, app: Any, role: str = "viewer") -> requests.Session:
    """A requests session logged in through the real /login form, with Dash's CSRF header set."""
    from tests.auth_helpers import ensure_user

    name, password = ensure_user(app, role)
    session = requests.Session()
    token = re.search(r'name="csrf_token" value="([^"]+)"', session.get(base + "/login", timeout=30).text)
    assert token is not None
    response = session.post(base + "/login", data={"username": name, "password": password,
                                                    "csrf_token": token.group(1)}, allow_redirects=False, timeout=30)
    assert response.status_code == 302, response.text[:300]
    session.headers["X-CSRFToken"] = session.cookies.get("_csrf_token") or ""
    return session


def redis_app(test_settings: Any, db_url: str, cache_url: str) -> Any:
    from app import create_app
    from engine.clock import utcnow
    from engine.store.migrate import open_store
    from engine.trading import state as ts
    from webapp.context import EXTENSION_KEY

    open_store(db_url, migrate=True).dispose()  # what `python -m engine migrate` does before the web starts
    app = create_app(test_settings(database_url=db_url, cache_url=cache_url, engine_mode="none",
                                   secret_key=secrets.token_urlsafe(40)), start_engine=False)
    with app.server.extensions[EXTENSION_KEY].store.write() as s:
        ts.ensure_state(s, utcnow())  # what the engine's first run records
    return app


def trading_state(app: Any) -> str:
    from engine.trading import state as ts
    from webapp.context import EXTENSION_KEY

    with app.server.extensions[EXTENSION_KEY].store.read() as s:
        return str(ts.current(s).state.value)


def kill_switch(session: requests.Session, base: str) -> tuple[requests.Response, float]:
    deps = session.get(base + "/_dash-dependencies", timeout=30).json()
    dep = find(deps, "banner-kill-result.children", "banner-kill-confirm")
    body = build_body(dep, {position(dep, "banner-kill-confirm", "n_clicks"): 1,
                            position(dep, "banner-kill-flatten", "value"): False})
    started = time.monotonic()
    response = session.post(base + CALLBACK_URL, json=body, timeout=60)
    return response, time.monotonic() - started


def test_kill_switch_with_redis_down_reports_the_halt_and_the_cache_note(
        test_settings: Any, any_db_url: str, redis_server: RedisServer) -> None:
    app = redis_app(test_settings, any_db_url, redis_server.url)
    with served(app) as base:
        session = login(base, app)
        assert trading_state(app) == "ACTIVE"
        redis_server.stop()
        response, took = kill_switch(session, base)
        text = response.text
        assert response.status_code == 200, text[:500]
        assert trading_state(app) == "HALTED"
        assert "could not be used" not in text and "nothing was changed" not in text, text[:500]
        assert "halt done" in text, text[:500]
        assert "live cache could not be refreshed" in text, text[:500]
        assert took < 5, took  # refused connections: no wait for Redis at all (measured 0.2 s)


def test_forget_against_a_hung_redis_is_bounded_and_says_so() -> None:
    """A Redis that accepts and never answers: forget() gives up within the short socket timeout, and says so."""
    from flask import Flask

    from webapp.live_cache import init_live_cache

    with MuteServer(lifetime_s=30) as mute:
        live = init_live_cache(Flask(__name__), f"redis://127.0.0.1:{mute.port}/0", ttl_s=1.0)
        started = time.monotonic()
        told = live.forget()
        took = time.monotonic() - started
    assert told is False
    assert took < 2.5, took  # the live cache's client waits at most about a second per socket operation
