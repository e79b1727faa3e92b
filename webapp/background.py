"""The background-callback manager: Dash's DiskcacheManager, one cache directory per store.

Why diskcache: long previews (the Regime page's what-if replay) run in a child process while the
browser polls for progress; diskcache needs no server. The directory sits next to a SQLite store
(so tests on a temporary store get a temporary cache) and under the system temp dir otherwise.
Several gunicorn workers sharing one directory share the jobs, which is what Dash expects.
"""
from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dash
import diskcache
from dash import DiskcacheManager
from sqlalchemy.engine import make_url

from engine.context import EngineContext
from engine.settings import Settings
from engine.store.db import Store
from webapp.context import EXTENSION_KEY, get_context

RESULT_EXPIRE_SECONDS = 600  # an unclaimed job result is dropped after ten minutes


def cache_dir(settings: Settings) -> Path:
    """Next to the SQLite file, or under the temp dir keyed by the database URL."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).resolve().parent / "background-callbacks"
    key = hashlib.sha256(url.render_as_string(hide_password=True).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"regimedesk-background-{key}"


def background_manager(settings: Settings) -> DiskcacheManager:
    path = cache_dir(settings)
    path.mkdir(parents=True, exist_ok=True)
    return DiskcacheManager(diskcache.Cache(str(path)), expire=RESULT_EXPIRE_SECONDS)


@contextmanager
def job_store() -> Iterator[Store]:
    """A fresh store for a background job, disposed at the end.

    The job runs in a forked child: the parent's pooled connections must not be shared, so the
    child opens its own engine on the same database URL (read from the serving app's context)."""
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
