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
"""
from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dash
import diskcache
from dash import CeleryManager, DiskcacheManager
from sqlalchemy.engine import make_url

from engine.context import EngineContext
from engine.settings import Settings
from engine.store.db import Store
from webapp.context import EXTENSION_KEY, get_context

RESULT_EXPIRE_SECONDS = 600  # an unclaimed job result is dropped after ten minutes
CELERY_QUEUE = "regimedesk-background"  # not Celery's shared default "celery" queue


def uses_celery(settings: Settings) -> bool:
    return settings.cache_url.startswith(("redis://", "rediss://"))


def celery_app(settings: Settings):
    """The Celery application of the background callbacks: broker and results on the cache's Redis."""
    from celery import Celery

    app = Celery("regimedesk", broker=settings.cache_url, backend=settings.cache_url)
    app.conf.update(task_default_queue=CELERY_QUEUE, result_expires=RESULT_EXPIRE_SECONDS,
                    broker_connection_retry_on_startup=True, worker_hijack_root_logger=False,
                    task_acks_late=False, worker_prefetch_multiplier=1)
    return app


def cache_dir(settings: Settings) -> Path:
    """Next to the SQLite file, or under the temp dir keyed by the database URL."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).resolve().parent / "background-callbacks"
    key = hashlib.sha256(url.render_as_string(hide_password=True).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"regimedesk-background-{key}"


def background_manager(settings: Settings) -> DiskcacheManager | CeleryManager:
    if uses_celery(settings):
        return CeleryManager(celery_app(settings), expire=RESULT_EXPIRE_SECONDS)
    path = cache_dir(settings)
    path.mkdir(parents=True, exist_ok=True)
    return DiskcacheManager(diskcache.Cache(str(path)), expire=RESULT_EXPIRE_SECONDS)


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


def _job_context() -> EngineContext:
    try:
        return get_context()
    except RuntimeError:  # no Flask app context in this process: use the app Dash registered
        return dash.get_app().server.extensions[EXTENSION_KEY]
