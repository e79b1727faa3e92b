"""RegimeDesk web app. `python app.py` runs the embedded mode: web + engine in one process.

`create_app(settings)` builds the Dash app; `server` is the Flask server for `gunicorn app:server`
(set REGIMEDESK_ENGINE_MODE=none there and run `python -m engine` separately).
"""
from __future__ import annotations

import atexit
import logging
import os
import sys
from pathlib import Path

import dash
import dash_bootstrap_components as dbc
from dash import Dash, dcc, html

from components.shell import navbar
from engine.auth import principal
from engine.context import EngineContext
from engine.logging_setup import configure_logging
from engine.runtime import build_context
from engine.settings import EngineMode, Settings, SettingsError, load_settings
from engine.store.check import require_current_schema
from engine.store.db import StoreError
from webapp.api import register_api_routes
from webapp.audit_view import register_audit_export
from webapp.auth.errors import callback_error_alert, on_callback_error
from webapp.auth.first_run import print_setup_link, refuse_unsafe_binding
from webapp.auth.install import init_auth
from webapp.auth.sessions import csrf_token
from webapp.background import BoundedDiskcacheManager, background_manager
from webapp.banner import banner_layout, register_banner_callbacks
from webapp.cache import init_cache
from webapp.context import attach
from webapp.deadman import install_deadman
from webapp.embedded_server import serve_until_signal
from webapp.engine_process import EngineProcess
from webapp.market_time import clock_note

ROOT = Path(__file__).resolve().parent
ENGINE_KEY = "regimedesk_engine"  # server.extensions entry holding the embedded EngineService
log = logging.getLogger("regimedesk.app")


def _layout() -> html.Div:
    who = principal.current()
    return html.Div([
        dcc.Location(id="app-location"),
        navbar(list(dash.page_registry.values()), user=who.name, role=who.role, csrf=csrf_token()),
        dbc.Container([banner_layout(), _clock_note(), callback_error_alert(), dash.page_container], fluid=True),
    ])


def _clock_note() -> html.Div:
    """Which clock the times on every page are in (webapp/market_time.py)."""
    try:
        text = clock_note()
    except Exception:  # noqa: BLE001 - the shell must render even without a context
        text = "Times in UTC."
    return html.Div(text, id="app-clock-note", className="small text-muted mb-1")


def _forget_unserved_callbacks() -> None:
    """Start every app from Dash's empty process-wide callback registry.

    `@dash.callback` registrations wait in process-wide lists until an app's first request takes them, and
    Dash imports the pages again for every app; an app that never served a request (tests build many)
    would otherwise hand its page callbacks to the next app, which then has each one twice. The page
    callbacks are registered again when Dash(...) imports the pages just below. Dash keeps these lists in a
    private module, so this names it.
    """
    from dash import _callback

    _callback.GLOBAL_CALLBACK_LIST.clear()
    _callback.GLOBAL_CALLBACK_MAP.clear()


def create_app(
    settings: Settings | None = None,
    *,
    context: EngineContext | None = None,
    start_engine: bool = False,
    engine_process: bool = False,
) -> Dash:
    """Build the Dash app on `settings`; with start_engine and engine_mode=embedded, run the engine too:
    in this process, or with engine_process (`python app.py`) as a child `python -m engine` on the same store."""
    settings = settings or load_settings()
    embedded = settings.engine_mode is EngineMode.EMBEDDED
    ctx = context or build_context(settings, with_source=False, migrate=embedded)
    if not embedded:
        require_current_schema(ctx.store)
    _forget_unserved_callbacks()
    manager = background_manager(settings)
    if isinstance(manager, BoundedDiskcacheManager):
        manager.watch_store(ctx.store)  # its children fork only while the web's store is not in use
    app = Dash(
        __name__,
        use_pages=True,
        pages_folder=str(ROOT / "pages"),
        assets_folder=str(ROOT / "assets"),
        serve_locally=True,  # no CDN: machines run offline; Bootstrap is vendored in assets/
        suppress_callback_exceptions=True,
        title="RegimeDesk",
        update_title="",  # keep the title while a callback runs (Dash: None or "")
        background_callback_manager=manager,  # Regime page what-if (webapp/background.py)
        on_error=on_callback_error,  # a callback that fails shows why in one alert; its outputs stay as they were
    )
    server = app.server
    server.config["SECRET_KEY"] = (settings.secret_key.get_secret_value() if settings.secret_key
                                   else os.urandom(32).hex())
    # Room for a file up to 3x the upload limit (base64 grows by 4/3), so the page can say it is too large;
    # anything larger gets a 413 with the same message (webapp/auth/install.py), shown by assets/auth.js.
    server.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes * 4 + 1_000_000
    attach(server, ctx)
    init_cache(server, settings.cache_url, settings.cache_ttl_seconds)
    init_auth(app, settings)
    app.layout = _layout
    register_banner_callbacks(app)
    register_api_routes(server)
    register_audit_export(server)

    install_deadman(app, settings, ctx)  # engine liveness on the banner; the dead-man's switch watcher
    if start_engine and embedded and engine_process:  # browser load never delays the engine's jobs
        server.extensions[ENGINE_KEY] = EngineProcess().start()
    elif start_engine and embedded:
        server.extensions[ENGINE_KEY] = _start_embedded_engine(settings, ctx)
    return app


def _start_embedded_engine(settings: Settings, web_ctx: EngineContext):
    # local import: the engine's jobs (sklearn, hmmlearn, pypfopt) load only in a process that runs the embedded engine
    from engine.scheduler import EngineService

    engine_ctx = build_context(settings, with_source=True, migrate=False, store=web_ctx.store, clock=web_ctx.clock)
    service = EngineService(engine_ctx, blocking=False)
    service.start()
    atexit.register(service.shutdown)
    return service


def main() -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    refusal = refuse_unsafe_binding(settings)
    if refusal:
        print(refusal, file=sys.stderr)
        return 2
    try:
        app = create_app(settings, start_engine=True, engine_process=True)
    except StoreError as exc:  # a schema behind or ahead of this code: one line saying what to run
        print(f"database error: {exc}", file=sys.stderr)
        return 2

    def on_ready() -> None:  # the port is bound: the link works the moment it is printed
        print_setup_link(app, settings)
        log.info("RegimeDesk on http://%s:%d (engine %s)", settings.host, settings.port, settings.engine_mode)

    # SIGTERM/SIGINT: graceful shutdown, exit 0
    return serve_until_signal(app, settings.host, settings.port, settings.web_threads, on_ready=on_ready)


def __getattr__(name: str):
    """`app.server` for gunicorn, built on first access so importing app.py stays cheap."""
    if name == "server":
        try:
            return create_app(load_settings()).server
        except (SettingsError, StoreError) as exc:  # one line, not a traceback per worker
            kind = "configuration" if isinstance(exc, SettingsError) else "database"
            print(f"{kind} error: {exc}", file=sys.stderr, flush=True)
            raise SystemExit(3) from None  # gunicorn's "worker failed to boot": the arbiter stops, no restart loop
    raise AttributeError(name)


if __name__ == "__main__":
    sys.exit(main())
