"""Audit finding 4: the login rate limit counts in Redis for a TLS Redis URL (rediss://) too, where it silently fell
back to each process's memory; several gunicorn workers counting in memory are warned about at startup. And the
production server end to end (gunicorn -w 2, gthread, SQLite): a burst of wrong passwords from one address checks
5 (audit finding 2: it checked 8 against a lock of 5)."""
from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests
from flask_limiter import Limiter
from limits.storage import MemoryStorage, RedisStorage
from sqlalchemy import func, select

from engine.store.migrate import open_store
from engine.store.models import AuditEvent
from webapp.auth.limiter_storage import MEMORY, gunicorn_workers, limiter_storage, per_process_warning

ROOT = Path(__file__).resolve().parents[2]
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.mark.parametrize(("cache_url", "storage"), [
    ("redis://127.0.0.1:6379/15", "redis://127.0.0.1:6379/15"),
    ("rediss://cache.example:6380/0", "rediss://cache.example:6380/0"),
    ("redis+sentinel://h:26379/mymaster", MEMORY),  # the query cache does not take it either (webapp/cache.py)
    ("", MEMORY),
])
def test_limiter_storage_follows_the_cache_url(cache_url: str, storage: str) -> None:
    assert limiter_storage(cache_url) == storage


def _limiter_of(app: Any) -> Limiter:
    found = app.server.extensions["limiter"]
    return next(iter(found)) if isinstance(found, (set, list, tuple)) else found


@pytest.mark.parametrize(("cache_url", "kind"), [
    ("rediss://127.0.0.1:6379/15?ssl_cert_reqs=CERT_REQUIRED", RedisStorage), ("", MemoryStorage)])
def test_the_app_counts_logins_in_redis_for_a_tls_url(test_settings: Any, cache_url: str, kind: type) -> None:
    from app import create_app

    app = create_app(test_settings(cache_url=cache_url, warmup_polls=10), start_engine=False)
    assert type(_limiter_of(app).storage) is kind


@pytest.mark.parametrize(("argv", "environ", "workers"), [
    (["/venv/bin/gunicorn", "-c", "gunicorn.conf.py", "-w", "2", "app:server"], {}, 2),
    (["/venv/bin/gunicorn", "--workers=3", "app:server"], {"WEB_CONCURRENCY": "5"}, 3),
    (["/venv/bin/gunicorn", "app:server"], {"WEB_CONCURRENCY": "4"}, 4),
    (["/venv/lib/python3.11/site-packages/gunicorn/__main__.py", "-w", "2", "app:server"], {}, 2),
    (["/venv/bin/gunicorn", "app:server"], {"GUNICORN_CMD_ARGS": "--bind 127.0.0.1:9 -w 6", "WEB_CONCURRENCY": "4"}, 6),
    (["/venv/bin/gunicorn", "-w", "2", "app:server"], {"GUNICORN_CMD_ARGS": "-w 6"}, 2),
    (["app.py"], {"WEB_CONCURRENCY": "4"}, 1),  # python app.py: one embedded worker whatever the environment says
    ([], {}, 1),
])
def test_gunicorn_workers(argv: list[str], environ: dict[str, str], workers: int) -> None:
    assert gunicorn_workers(argv, environ) == workers


def test_the_warning_names_the_workers_and_the_fix() -> None:
    message = per_process_warning(MEMORY, 2)
    assert message is not None and "2 gunicorn workers" in message and "REGIMEDESK_CACHE_URL" in message
    assert per_process_warning(MEMORY, 1) is None
    assert per_process_warning("rediss://h:6380/0", 4) is None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_gunicorn_two_workers_warn_and_check_five_passwords_of_a_burst(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    port = _free_port()
    env = {**os.environ, "REGIMEDESK_DATABASE_URL": url, "REGIMEDESK_ENGINE_MODE": "none",
           "REGIMEDESK_SECRET_KEY": secrets.token_urlsafe(48), "REGIMEDESK_BIND": f"127.0.0.1:{port}",
           "REGIMEDESK_PORT": str(port), "REGIMEDESK_DEADMAN_SECONDS": "0", "REGIMEDESK_CACHE_URL": ""}
    subprocess.run([sys.executable, "-m", "engine", "users", "add", "bob", "--role", "admin", "--password-stdin"],
                   cwd=ROOT, env=env, input="bobs-real-passw0rd-xyz\n", text=True, check=True, timeout=120,
                   capture_output=True)
    log = tmp_path / "gunicorn.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "-w", "2", "app:server"],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and "2 gunicorn workers" not in log.read_text():
            assert proc.poll() is None, log.read_text()[-3000:]
            time.sleep(0.3)
        assert "login rate limit: 2 gunicorn workers each count login attempts" in log.read_text()
        sessions = []
        while len(sessions) < 36 and time.monotonic() < deadline + 60:
            try:
                session = requests.Session()
                match = CSRF.search(session.get(base + "/login", timeout=30).text)
            except requests.RequestException:
                time.sleep(0.3)
                continue
            assert match
            sessions.append((session, match.group(1)))
        barrier = threading.Barrier(len(sessions))
        codes: list[int] = []

        def go(i: int) -> None:
            session, token = sessions[i]
            barrier.wait(timeout=30)
            codes.append(session.post(base + "/login", allow_redirects=False, headers={"Origin": base}, timeout=120,
                                      data={"username": "bob", "password": f"wrong-{i:04d}", "csrf_token": token}
                                      ).status_code)

        threads = [threading.Thread(target=go, args=(i,)) for i in range(len(sessions))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=180)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    counts = Counter(codes)
    assert set(counts) <= {401, 429} and counts[401] >= 5  # each worker's memory lets up to 10 through
    store = open_store(url, migrate=False)
    try:
        with store.read() as s:
            rows = s.execute(select(AuditEvent.outcome, func.count()).where(
                AuditEvent.action == "auth.login", AuditEvent.target == "bob").group_by(AuditEvent.outcome)).all()
    finally:
        store.dispose()
    outcomes = {str(outcome): int(n) for outcome, n in rows}
    assert outcomes == {"failed": 5, "locked": counts[401] - 5}
