"""The background-callback manager: Celery on Redis when REGIMEDESK_CACHE_URL is Redis, else diskcache.

Long previews (the Regime page's what-if replay) run outside the web request while the browser
polls for progress. Two managers:

- **Celery** (`REGIMEDESK_CACHE_URL=redis://...`): jobs go to the Redis queue `regimedesk-background`
  and run in `celery -A webapp.celery_worker worker` processes (any machine with the code and the
  same settings); results and progress live in Redis, so a job started through one gunicorn worker
  is polled through any other.
- **diskcache** otherwise: the job runs in a child process of the web process; the directory sits
  next to a SQLite store (so tests on a temporary store get a temporary cache) and under the
  system temp dir otherwise. Several gunicorn workers on one machine share the directory.
  BoundedDiskcacheManager bounds the children: at most BACKGROUND_SLOTS run at once on the machine (a registry
  of running jobs in that shared cache, changed inside its cross-process transaction, so every gunicorn worker
  counts the same jobs), at most one per login session and callback (a second is refused while the first runs:
  the page disables Run while it runs, so only a reload, a second tab or a forged request asks twice, and a
  refusal costs nothing where a replacement would fork and kill per request), and each child runs at a lower
  priority (BACKGROUND_NICE) with the default signal handlers and exits when its web process is gone, so the
  engine and the kill switch keep the CPU and no child outlives the server.

The Celery manager bounds what one login can queue as the diskcache manager does: one job per login session and
callback at once (its task id kept in Redis under OWN_KEY, so every web worker sees it; a second is refused while
the first is queued or running), and at most MAX_QUEUED jobs waiting in the queue for all users together: a
forged request loop can neither fill Redis nor push every other user's what-if behind thousands of its own.

With Redis down, starting a job fails within about two seconds (short socket timeouts, one publish retry,
one result-store reconnect: Celery's defaults waited ~19 s and answered 204 with no word) and the page's
alert says so. A web process publishes at most PUBLISHING_SLOTS jobs at once and, after a failed publish,
refuses new ones at once for BROKER_DOWN_S: background clicks can never hold every gunicorn thread while a
trader's kill switch waits behind them (docs/deploy.md, "Background callbacks").

A Celery job's message sits in Redis (queued, then unacknowledged while it runs): it carries the callback's inputs
and none of the request's secrets. Dash's job context holds the request's cookies and headers (the session cookie,
the CSRF token); anyone who could read the broker could replay them as the user, so job_context drops them (no job
reads them: the role was checked before the job was queued, and jobs write no audited rows).
"""
from __future__ import annotations

import hashlib
import logging
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dash
import diskcache
from dash import CeleryManager, DiskcacheManager
from flask import g, has_request_context
from sqlalchemy.engine import make_url

from engine.context import EngineContext
from engine.settings import Settings
from engine.store.db import Store
from webapp.auth.errors import ALERT_ID
from webapp.background_disk import (
    REFUSED_BUSY,
    REFUSED_OWN,
    BoundedDiskcacheManager,
    callback_output,
    login_owner,
)
from webapp.context import EXTENSION_KEY, get_context

log = logging.getLogger(__name__)

RESULT_EXPIRE_SECONDS = 600  # an unclaimed job result is dropped after ten minutes
CELERY_QUEUE = "regimedesk-background"  # not Celery's shared default "celery" queue
REDIS_TIMEOUT_S = 1.0  # connect and socket timeouts towards Redis (broker and results: small messages, one network)
PUBLISHING_SLOTS = 2  # jobs one web process publishes at once; gthread has 4 threads: 2 stay for trade controls
SLOT_WAIT_S = 0.5  # how long a click waits for a publishing slot (a publish to a live Redis takes milliseconds)
BROKER_DOWN_S = 3.0  # after a failed publish, new jobs are refused at once for this long (no wait per click)
UNAVAILABLE_JOB = "regimedesk-unavailable"  # the job handle of a job that was never queued
REFUSED_JOBS = (UNAVAILABLE_JOB, REFUSED_OWN, REFUSED_BUSY)  # handles of jobs never queued, each with its message
MAX_QUEUED = 8  # Celery: jobs waiting in the queue (all users) beyond which a new one is refused
OWN_KEY = "regimedesk-background-own:{owner}:{what}"  # Redis: the Celery task id of a session's job of a callback
STARTING = "starting"  # OWN_KEY's value while its job is being published
ACTIVE_STATES = ("PENDING", "RECEIVED", "STARTED", "RETRY", "PROGRESS")  # a queued or running Celery task
ONE_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}  # a stale connection
NO_RETRY = {"max_retries": 0}  # the result store: its reconnect is itself one more attempt
# the request's parts in dash's job context that must never reach the broker, and their empty values
REQUEST_SECRETS: dict[str, Any] = {"cookies": {}, "headers": {}, "args": {}, "path": "", "remote": "", "origin": ""}


def uses_celery(settings: Settings) -> bool:
    return settings.cache_url.startswith(("redis://", "rediss://"))


def celery_app(settings: Settings):
    """The Celery application of the background callbacks: broker and results on the cache's Redis."""
    from celery import Celery

    app = Celery("regimedesk", broker=settings.cache_url, backend=settings.cache_url)
    app.conf.update(task_default_queue=CELERY_QUEUE, result_expires=RESULT_EXPIRE_SECONDS,
                    broker_connection_retry_on_startup=True, worker_hijack_root_logger=False,
                    task_acks_late=False, worker_prefetch_multiplier=1,
                    # bounded waits for a Redis that is down or hung (kombu's BRPOP polls every 1 s: below these)
                    broker_connection_timeout=REDIS_TIMEOUT_S * 2, task_publish_retry_policy=ONE_RETRY,
                    broker_transport_options={"socket_timeout": REDIS_TIMEOUT_S * 2,
                                              "socket_connect_timeout": REDIS_TIMEOUT_S, "retry_on_timeout": False},
                    redis_socket_timeout=REDIS_TIMEOUT_S, redis_socket_connect_timeout=REDIS_TIMEOUT_S,
                    redis_retry_on_timeout=False, result_backend_transport_options={"retry_policy": NO_RETRY})
    return app


def job_context(context: Any) -> Any:
    """Dash's job context without the request's cookies, headers, query string or client address (see above)."""
    if not isinstance(context, dict):
        return context
    return type(context)({**context, **REQUEST_SECRETS})


def redis_where(url: str) -> str:
    """host:port/db of a redis:// URL, never its user or password (the alert and the log show it)."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}{parts.path or '/0'}"


class BackgroundUnavailable(Exception):
    """A background job could not be queued: the broker (Redis) is not reachable."""


class BoundedCeleryManager(CeleryManager):
    """dash's CeleryManager with bounded waits when Redis is down, and the reason told to the user.

    A job that could not be queued gets the handle UNAVAILABLE_JOB; the browser's first poll then ends the
    job and opens the page's alert (a background callback's own error handler cannot: dash drops its
    set_props). Any Redis failure while polling ends the job the same way."""

    def __init__(self, celery_app: Any, where: str, redis_url: str, expire: int | None = None) -> None:
        super().__init__(celery_app, expire=expire)
        self.where = where
        self._redis_url = redis_url  # may hold a password: never logged nor shown (`where` is what is shown)
        self._slots = threading.BoundedSemaphore(PUBLISHING_SLOTS)
        self._down_until = 0.0

    def message(self, job: str = UNAVAILABLE_JOB) -> str:
        if job == REFUSED_OWN:
            return ("Your earlier run of this is still queued or running (from this or another tab); nothing new was "
                    "started: wait for it to finish, then try again.")
        if job == REFUSED_BUSY:
            return (f"{MAX_QUEUED} background jobs are waiting for a worker (the most this server queues); nothing "
                    "new was started: try again when the queue is shorter.")
        return f"Background work is unavailable: Redis at {self.where} is not reachable; try again in a moment."

    def call_job_fn(self, key: Any, job_fn: Any, args: Any, context: Any) -> Any:
        if time.monotonic() < self._down_until or not self._slots.acquire(timeout=SLOT_WAIT_S):
            return self._unavailable(None)
        own = ""
        try:
            own, refusal = self._reserve(login_owner(), callback_output())
            if refusal:
                log.warning("background job refused: %s", self.message(refusal))
                self._failed(refusal)
                return refusal
            job = super().call_job_fn(key, job_fn, args, job_context(context))
            if own:
                self._redis().set(own, str(job), ex=RESULT_EXPIRE_SECONDS)
            return job
        except Exception as exc:  # noqa: BLE001 - kombu, redis and Celery's RuntimeError all mean "not queued"
            self._down_until = time.monotonic() + BROKER_DOWN_S
            self._forget(own)
            return self._unavailable(exc)
        finally:
            self._slots.release()

    def _redis(self) -> Any:
        import redis  # local import: only the Celery deployment uses Redis

        return redis.Redis.from_url(self._redis_url, socket_timeout=REDIS_TIMEOUT_S,
                                    socket_connect_timeout=REDIS_TIMEOUT_S, decode_responses=True)

    def _reserve(self, owner: str, what: str) -> tuple[str, str]:
        """(this session's OWN_KEY, now marked STARTING, or "" without a login; a refusal handle or "")."""
        client = self._redis()
        own = OWN_KEY.format(owner=owner, what=what) if owner and what else ""
        if own and not client.set(own, STARTING, nx=True, ex=RESULT_EXPIRE_SECONDS):
            held = client.get(own)
            if held == STARTING or (held and self.handle.AsyncResult(held).state in ACTIVE_STATES):
                return "", REFUSED_OWN
            client.set(own, STARTING, ex=RESULT_EXPIRE_SECONDS)  # its earlier job ended: this one replaces it
        if int(client.llen(CELERY_QUEUE)) >= MAX_QUEUED:
            self._forget(own)
            return "", REFUSED_BUSY
        return own, ""

    def _forget(self, own: str) -> None:
        if not own:
            return
        try:
            self._redis().delete(own)
        except Exception as exc:  # noqa: BLE001 - Redis down: the key expires on its own
            log.warning("background job: Redis at %s: %s", self.where, type(exc).__name__)

    def _unavailable(self, exc: Exception | None) -> str:
        if exc is not None:
            log.warning("background job not queued: Redis at %s: %s: %s", self.where, type(exc).__name__, exc)
        self._failed()
        return UNAVAILABLE_JOB

    def _failed(self, job: str = UNAVAILABLE_JOB) -> None:
        if has_request_context():
            g.regimedesk_background_failed = job

    def _guarded(self, what: str, call: Any, default: Any) -> Any:
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - Redis down while polling: end the job with the alert
            log.warning("background job %s: Redis at %s: %s: %s", what, self.where, type(exc).__name__, exc)
            self._failed()
            return default

    def get_progress(self, key: Any) -> Any:
        return self._guarded("progress", lambda: super(BoundedCeleryManager, self).get_progress(key), None)

    def result_ready(self, key: Any) -> bool:
        return bool(self._guarded("result", lambda: super(BoundedCeleryManager, self).result_ready(key), False))

    def get_result(self, key: Any, job: Any) -> Any:
        if job in REFUSED_JOBS:
            self._failed(job)
            return self.UNDEFINED
        return self._guarded("result", lambda: super(BoundedCeleryManager, self).get_result(key, job), self.UNDEFINED)

    def job_running(self, job: Any) -> bool:
        if job in REFUSED_JOBS:
            return False
        return bool(self._guarded("status", lambda: super(BoundedCeleryManager, self).job_running(job), False))

    def terminate_job(self, job: Any) -> None:
        if job is not None and job not in REFUSED_JOBS:
            self._guarded("cancel", lambda: super(BoundedCeleryManager, self).terminate_job(job), None)

    def clear_cache_entry(self, key: Any) -> None:
        self._guarded("clean-up", lambda: super(BoundedCeleryManager, self).clear_cache_entry(key), None)

    def get_updated_props(self, key: Any) -> Any:
        props = self._guarded("updates", lambda: super(BoundedCeleryManager, self).get_updated_props(key), {})
        failed = g.get("regimedesk_background_failed") if has_request_context() else None
        if failed:
            return {**(props or {}), ALERT_ID: {"children": self.message(str(failed)), "is_open": True}}
        return props


def cache_dir(settings: Settings) -> Path:
    """Next to the SQLite file, or under the temp dir keyed by the database URL."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).resolve().parent / "background-callbacks"
    key = hashlib.sha256(url.render_as_string(hide_password=True).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"regimedesk-background-{key}"


def background_manager(settings: Settings) -> DiskcacheManager | CeleryManager:
    if uses_celery(settings):
        return BoundedCeleryManager(celery_app(settings), redis_where(settings.cache_url), settings.cache_url,
                                    expire=RESULT_EXPIRE_SECONDS)
    path = cache_dir(settings)
    path.mkdir(parents=True, exist_ok=True)
    return BoundedDiskcacheManager(diskcache.Cache(str(path)), expire=RESULT_EXPIRE_SECONDS)


@contextmanager
def job_store() -> Iterator[Store]:
    """A fresh store for a background job, disposed at the end.

    The job runs in a forked child or a Celery worker: the parent's pooled connections must not be
    shared, so the job opens its own engine on the same database URL (read from the serving app's context)."""
    store = Store(_job_context().settings.database_url)
    try:
        yield store
    finally:
        store.dispose()


def job_settings() -> Settings:
    """The serving app's settings, from a background job (a forked child or a Celery worker)."""
    return _job_context().settings


def _job_context() -> EngineContext:
    try:
        return get_context()
    except RuntimeError:  # no Flask app context in this process: use the app Dash registered
        return dash.get_app().server.extensions[EXTENSION_KEY]
