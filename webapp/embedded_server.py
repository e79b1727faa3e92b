"""The HTTP server of `python app.py`: gunicorn's threaded worker in front of the app built in this process.

werkzeug's development server gives every keep-alive connection a thread of its own: under 50 browser
clients about a hundred threads took turns on one interpreter lock, and the interval callbacks' p95 rose to
several hundred ms (issue 14's load bench) although the process used less than a core. gunicorn's gthread
worker parks idle keep-alive connections in a selector and runs requests on a small pool of threads, the
layout the production deployment already uses (gunicorn.conf.py), so the embedded mode gets the same server.

Process model: this process (gunicorn's arbiter) built the app, owns the engine's child process and the
dead-man watcher; it forks one worker that serves HTTP. One worker, so per-process state (the live cache, the
login rate limiter, the HTTP metrics) needs no sharing, and the session key made at start is the worker's too.
SIGTERM/SIGINT: the arbiter stops the worker (in-flight requests finish, `GRACEFUL_S`), then `on_exit` runs
the embedded shutdown (webapp/embedded_shutdown.py: the engine's trading shutdown sequence, the watcher, the
notifier) and the process exits 0, within the 10 s bound of the graceful-shutdown issue.
"""
from __future__ import annotations

import atexit
import logging
import os
from collections.abc import Callable
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter

from webapp.embedded_shutdown import ENGINE_KEY, EmbeddedShutdown

log = logging.getLogger(__name__)

GRACEFUL_S = 3  # in-flight callbacks finish; longer ones are cut so the engine's shutdown fits in the 10 s bound
KEEPALIVE_S = 75  # as gunicorn.conf.py: longer than a browser's or proxy's idle keep-alive


class EmbeddedServer(BaseApplication):
    """gunicorn with one gthread worker serving `wsgi_app`, built before the fork (never re-imported)."""

    def __init__(self, wsgi_app: Any, host: str, port: int, threads: int, on_fork: Callable[[], None],
                 on_ready: Callable[[], None], shutdown: EmbeddedShutdown) -> None:
        self.wsgi_app = wsgi_app
        self.options = {
            "bind": f"{host}:{port}", "workers": 1, "worker_class": "gthread", "threads": threads,
            "timeout": 60, "graceful_timeout": GRACEFUL_S, "keepalive": KEEPALIVE_S,
            "when_ready": lambda _server: on_ready(),  # the port is bound: a link printed now opens at once
            "post_fork": lambda _server, _worker: on_fork(),
            "on_exit": lambda _server: self._exit(),
            "control_socket_disable": True,  # gunicornc's socket: a fixed path in $HOME every instance would share
        }
        self.shutdown = shutdown
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return self.wsgi_app

    def run(self) -> None:
        _Arbiter(self, on_signal=self.shutdown.start_watchdog).run()

    def _exit(self) -> None:
        self.shutdown.run()


class _Arbiter(Arbiter):
    """gunicorn's arbiter, starting the exit watchdog when SIGTERM, SIGINT or SIGQUIT arrives."""

    def __init__(self, app: BaseApplication, on_signal: Callable[[], None]) -> None:
        super().__init__(app)
        self._on_signal = on_signal

    def handle_term(self) -> None:
        self._on_signal()  # the 10 s bound counts from the signal, whatever the worker's stop takes
        super().handle_term()

    def handle_int(self) -> None:
        self._on_signal()
        super().handle_int()

    def handle_quit(self) -> None:
        self._on_signal()
        super().handle_quit()


def _store(server: Any) -> Any:
    """The app's store (webapp attach() keeps the context under server.extensions["regimedesk"]), or None."""
    return getattr(server.extensions.get("regimedesk"), "store", None)


def _after_fork(server: Any) -> None:
    """In the HTTP worker: the store's pooled connections and the engine child belong to the parent."""
    store = _store(server)
    if store is not None:
        store.engine.dispose(close=False)  # SQLAlchemy: new connections in this process, the parent's kept
    engine = server.extensions.get(ENGINE_KEY)
    if engine is not None:
        atexit.unregister(engine.shutdown)  # the worker's exit must not stop the parent's engine


def serve_until_signal(app: Any, host: str, port: int, threads: int,
                       on_ready: Callable[[], None] = lambda: None) -> int:
    """Serve until SIGTERM/SIGINT, then shut down gracefully; returns the exit code (0) in this process.

    `on_ready` runs once the port is bound (before the worker starts): connections made from then on wait in
    the listen queue instead of being refused, so it is where the first-run link is printed."""
    shutdown = EmbeddedShutdown(app.server)
    parent = os.getpid()
    code = 0
    try:
        EmbeddedServer(app.server, host, port, threads, on_fork=lambda: _after_fork(app.server),
                       on_ready=on_ready, shutdown=shutdown).run()
    except SystemExit as exc:
        if os.getpid() != parent:
            raise  # the HTTP worker ending: nothing of the parent's to stop
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    shutdown.run()  # already done by the exit hook; also when the server stopped without a signal
    log.info("RegimeDesk stopped")
    store = _store(app.server)
    if store is not None:
        store.dispose()
    logging.shutdown()
    return code
