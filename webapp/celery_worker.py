"""The Celery worker of the background callbacks (the Regime page what-if):

    REGIMEDESK_CACHE_URL=redis://127.0.0.1:6379/0 celery -A webapp.celery_worker worker -Q regimedesk-background

with the same environment as the web workers (database URL, cache URL). Building the Dash app here
registers the background callbacks as Celery tasks under the names the web workers send; this
process serves no HTTP, runs no scheduler and no dead-man watcher.
"""
from __future__ import annotations

import sys

from engine.logging_setup import configure_logging
from engine.settings import EngineMode, SettingsError, load_settings
from webapp.background import uses_celery

try:
    _settings = load_settings()
except SettingsError as exc:
    print(f"configuration error: {exc}", file=sys.stderr)
    raise SystemExit(2) from None
if not uses_celery(_settings):
    print("configuration error: REGIMEDESK_CACHE_URL: the Celery worker needs a redis:// URL "
          "(without one the web runs background callbacks itself)", file=sys.stderr)
    raise SystemExit(2)


def _build():
    # local import: the whole Dash app loads only after the settings check above (a configuration error exits first)
    from app import create_app

    configure_logging(_settings.log_level)
    settings = _settings.model_copy(update={"engine_mode": EngineMode.NONE, "deadman_seconds": 0})
    return create_app(settings, start_engine=False)


dash_app = _build()
celery_app = dash_app._background_manager.handle  # the Celery app the tasks were registered on
app = celery_app  # `celery -A webapp.celery_worker` looks for `app` or `celery`
