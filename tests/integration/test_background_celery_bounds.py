"""Celery background jobs are bounded per login session and in total, like the embedded (diskcache) ones.

Before: with Redis and Celery, a session (a second tab, or a forged request loop) could queue any number of the
same what-if, and any number of sessions could fill the queue: every other trader's job waited behind them. Now a
session's second run of a callback is refused while its first is queued or running, and a full queue refuses new
jobs, each with the reason in the page's alert. Real redis-server on 127.0.0.1 (no Celery worker runs: queued jobs
wait), real HTTP through werkzeug, logins through the real /login form.
"""
from __future__ import annotations

from typing import Any

import requests

from tests.integration import test_ops_audit_redis_kill
from tests.integration.test_ops_audit_background_redis import whatif_request
from tests.integration.test_ops_audit_redis_kill import RedisServer, login, redis_app, served
from tests.web_requests import CALLBACK_URL

redis_server = test_ops_audit_redis_kill.redis_server  # a private redis-server per test


def _click(session: requests.Session, base: str) -> tuple[str, str]:
    """(the job handle of a what-if click, the alert the first poll of it shows or "")."""
    body, params = whatif_request(session, base)
    started = session.post(base + CALLBACK_URL, params=params, json=body, timeout=60)
    assert started.status_code == 200, started.text[:300]
    handles = started.json()
    poll = session.post(base + CALLBACK_URL, json=body, timeout=30,
                        params={**params, "cacheKey": handles["cacheKey"], "job": handles["job"]})
    assert poll.status_code in (200, 204), poll.text[:300]
    alert = poll.json().get("sideUpdate", {}).get("app-callback-error", {}) if poll.status_code == 200 else {}
    return str(handles["job"]).split("~")[0], str(alert.get("children") or "")  # dash signs it: handle~signature


def test_a_sessions_second_run_is_refused_while_the_first_waits(test_settings: Any, sqlite_url: str,
                                                                redis_server: RedisServer) -> None:
    import redis

    from webapp.background import CELERY_QUEUE, REFUSED_JOBS

    app = redis_app(test_settings, sqlite_url, redis_server.url)
    client = redis.Redis.from_url(redis_server.url, socket_timeout=2)
    with served(app) as base:
        first = login(base, app)
        job, alert = _click(first, base)
        assert job not in REFUSED_JOBS and alert == ""  # queued: no worker runs here
        assert int(client.llen(CELERY_QUEUE)) == 1
        again, alert = _click(first, base)  # a second tab of the same login: refused, with the reason
        assert again == "regimedesk-refused-own"
        assert alert.startswith("Your earlier run of this is still queued or running")
        assert int(client.llen(CELERY_QUEUE)) == 1  # nothing more was queued
        other = login(base, app)  # another login is not held back by the first one's job
        job2, alert = _click(other, base)
        assert job2 not in REFUSED_JOBS and alert == "" and int(client.llen(CELERY_QUEUE)) == 2


def test_a_full_queue_refuses_new_jobs_with_the_reason(test_settings: Any, sqlite_url: str,
                                                       redis_server: RedisServer) -> None:
    import redis

    from webapp.background import CELERY_QUEUE, MAX_QUEUED

    app = redis_app(test_settings, sqlite_url, redis_server.url)
    client = redis.Redis.from_url(redis_server.url, socket_timeout=2)
    client.lpush(CELERY_QUEUE, *[f"waiting-{i}" for i in range(MAX_QUEUED)])  # other users' jobs, waiting
    with served(app) as base:
        job, alert = _click(login(base, app), base)
        assert job == "regimedesk-refused-busy"
        assert alert.startswith(f"{MAX_QUEUED} background jobs are waiting for a worker")
        assert int(client.llen(CELERY_QUEUE)) == MAX_QUEUED
        client.rpop(CELERY_QUEUE)  # one was taken by a worker: there is room again
        job, alert = _click(login(base, app), base)
        assert job not in ("regimedesk-refused-busy", "regimedesk-refused-own") and alert == ""
        assert int(client.llen(CELERY_QUEUE)) == MAX_QUEUED
