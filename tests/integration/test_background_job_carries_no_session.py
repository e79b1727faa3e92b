"""A background job queued through Celery carries no session: its message in Redis holds neither the user's
session cookie nor the CSRF token (webapp/background.py job_context), and the job still runs to its result.

Real processes on 127.0.0.1: `python -m engine`, one `gunicorn app:server` and, once the message has been read
from the queue, `celery -A webapp.celery_worker worker`; Redis database 14 (flushed before and after), the store
on SQLite and PostgreSQL. Every wait is bounded.
"""
from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.auth_helpers import PASSWORDS
from tests.integration.test_web_workers import (
    Web,
    _deps,
    _flat,
    _free_port,
    _poll_until_result,
    _prepare_store,
    _redis_or_skip,
    _stop,
    _wait_http,
    _whatif_body,
    login,
)
from tests.web_requests import find

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = "redis://127.0.0.1:6379/14"
QUEUE = "regimedesk-background"
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("redis-db-14")]


@pytest.fixture
def deployment(any_db_url: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Engine and one gunicorn worker on the store and Redis db 14; `start_worker()` adds the Celery worker."""
    client = _redis_or_skip(REDIS_URL)
    client.flushdb()
    env = {**os.environ, "REGIMEDESK_DATABASE_URL": any_db_url, "REGIMEDESK_CACHE_URL": REDIS_URL,
           "REGIMEDESK_SECRET_KEY": secrets.token_urlsafe(48), "REGIMEDESK_ENGINE_MODE": "none",
           "REGIMEDESK_CACHE_TTL_SECONDS": "30", "REGIMEDESK_TICK_SECONDS": "0.5", "REGIMEDESK_WARMUP_POLLS": "400",
           "REGIMEDESK_AUTOTRADE": "false", "REGIMEDESK_DEADMAN_SECONDS": "0", "PYTHONUNBUFFERED": "1"}
    _prepare_store(env, {"viewer": "viewer"})
    procs: list[subprocess.Popen] = []
    logs: dict[str, Path] = {}

    def start(name: str, argv: list[str]) -> subprocess.Popen:
        logs[name] = tmp_path / f"{name}.log"
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=logs[name].open("w"), stderr=subprocess.STDOUT)
        procs.append(proc)
        return proc

    def start_worker() -> None:
        start("celery", [sys.executable, "-m", "celery", "-A", "webapp.celery_worker", "worker", "-Q", QUEUE,
                         "--concurrency", "1", "--loglevel", "INFO"])

    try:
        start("engine", [sys.executable, "-m", "engine"])
        port = _free_port()
        web = start("web", [sys.executable, "-m", "gunicorn", "app:server", "-w", "1", "-b", f"127.0.0.1:{port}"])
        url = f"http://127.0.0.1:{port}"
        _wait_http(url, web, logs["web"])
        yield {"url": url, "redis": client, "logs": logs, "start_worker": start_worker}
    finally:
        for proc in reversed(procs):
            _stop(proc)
        client.flushdb()


def _queued(client: Any, timeout_s: float = 20.0) -> list[bytes]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        raw = client.lrange(QUEUE, 0, -1)
        if raw:
            return list(raw)
        time.sleep(0.1)
    return []


def test_the_queued_job_holds_no_cookie_or_csrf_token_and_still_completes(deployment: dict[str, Any]) -> None:
    viewer = login(deployment["url"], "viewer", PASSWORDS["viewer"])
    secrets_sent = viewer.cookies.get_dict()  # the session cookie and the CSRF token
    assert "_csrf_token" in secrets_sent and len(secrets_sent) >= 2, secrets_sent
    web = Web(deployment["url"], viewer)
    web.open_page("/regime")
    whatif = find(_deps(web), "regime-whatif-result.children", "regime-whatif-run")
    body = _whatif_body(whatif, "390")
    started = web.post(whatif, body=body)
    assert started.status_code == 200, started.text[:500]
    handles = started.json()
    assert "cacheKey" in handles and "job" in handles, handles

    messages = _queued(deployment["redis"])  # no Celery worker yet: the message waits in the queue
    assert len(messages) == 1, messages
    raw = messages[0]
    envelope = json.loads(raw)
    decoded = base64.b64decode(envelope["body"])  # the task's arguments (kombu base64-encodes the body)
    context = json.loads(decoded)[0][3]
    for name, value in secrets_sent.items():
        assert value.encode() not in raw and value.encode() not in decoded, f"cookie {name} is in the Redis message"
    assert not context.get("cookies") and not context.get("headers"), context
    assert json.loads(decoded)[0][2], "the callback's inputs must still be in the message"

    deployment["start_worker"]()
    poll = json.loads(json.dumps(body))
    for entry in _flat(poll["inputs"] + poll["state"]):
        entry["value"] = None
    result = _poll_until_result(web, whatif, poll, handles, timeout=120.0)
    assert result is not None, deployment["logs"]["celery"].read_text()[-3000:]
    text = json.dumps(result["regime-whatif-result"]["children"])
    assert "regime-whatif-agreement" in text and "No pending edits" in text, text[:1000]
