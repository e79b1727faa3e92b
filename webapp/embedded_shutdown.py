"""Graceful shutdown of `python app.py` (the embedded mode) on SIGTERM and SIGINT.

The same steps as `python -m engine` (engine/__main__.py run_engine): stop scheduling, then the
trading shutdown sequence through EngineService.shutdown (stop signals, cancel open orders, flatten
if the parameters say so, final broker sync, save state, STOPPED), release the lease; then the web's
own background workers (dead-man watcher, notifier) stop and werkzeug's server loop ends, and the
process exits 0.

werkzeug's serve_forever() ends on KeyboardInterrupt, so the handler runs the shutdown in the main
thread and then raises KeyboardInterrupt. A second signal during the shutdown is ignored. A watchdog
ends the process if it is still alive `EXIT_DEADLINE_S` after the signal (a thread that never
returns must not keep a stopped engine's process around): exit 0 when the shutdown steps finished,
1 when they did not.
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from engine import notify

log = logging.getLogger("regimedesk.shutdown")

EXIT_DEADLINE_S = 9.5  # the bound is 10 s from the signal to the exit
ENGINE_KEY = "regimedesk_engine"  # app.ENGINE_KEY (not imported: app.py imports this module)
STOPPABLE_KEYS = ("regimedesk_deadman",)  # server.extensions entries with .stop()


class EmbeddedShutdown:
    """Runs the web process's shutdown once, from a signal or after the server loop returned."""

    def __init__(self, server: Any, actor: str = "system:signal", deadline_s: float = EXIT_DEADLINE_S,
                 exit_now: Callable[[int], None] = os._exit) -> None:
        self.server = server
        self.actor = actor
        self.deadline_s = deadline_s
        self._exit_now = exit_now
        self._lock = threading.Lock()
        self._started = False
        self.finished = threading.Event()
        self.signal_name = ""

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.signal_name = signal.Signals(signum).name
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one shutdown; later signals are ignored
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        log.info("received %s: graceful shutdown of the web process and its embedded engine", self.signal_name)
        self._start_watchdog()
        self.run()
        raise KeyboardInterrupt  # ends werkzeug's serve_forever (it closes its socket on the way out)

    def _start_watchdog(self) -> None:
        def force() -> None:
            code = 0 if self.finished.is_set() else 1
            log.error("still running %.1f s after %s: exiting now with %d (%s)", self.deadline_s,
                      self.signal_name or "the stop", code,
                      "the shutdown steps finished" if code == 0 else "the shutdown steps did not finish")
            logging.shutdown()
            self._exit_now(code)

        timer = threading.Timer(self.deadline_s, force)
        timer.daemon = True
        timer.start()

    def run(self) -> None:
        """Stop the engine (trading shutdown sequence), then the web's background workers; idempotent."""
        with self._lock:
            if self._started:
                return
            self._started = True
        service = self.server.extensions.get(ENGINE_KEY)
        try:
            if service is not None:
                service.shutdown(actor=self.actor)
        except Exception:  # noqa: BLE001 - the process must still stop its workers and exit
            log.exception("embedded engine shutdown failed")
        for key in STOPPABLE_KEYS:
            worker = self.server.extensions.get(key)
            if worker is None:
                continue
            try:
                worker.stop()
            except Exception:  # noqa: BLE001
                log.exception("could not stop %s", key)

        notify.shutdown(flush_s=3.0)  # the STOPPED message leaves before the process does
        self.finished.set()


def serve_until_signal(app: Any, host: str, port: int) -> int:
    """app.run() with SIGTERM/SIGINT handlers that shut down gracefully; returns the exit code (0)."""
    shutdown = EmbeddedShutdown(app.server)
    shutdown.install()
    with contextlib.suppress(KeyboardInterrupt):  # raised by the handler to end werkzeug's loop
        app.run(host=host, port=port, debug=False)
    shutdown.run()  # the server loop may also end without a signal: the engine still stops cleanly
    log.info("RegimeDesk stopped")
    store = getattr(app.server.extensions.get("regimedesk"), "store", None)
    if store is not None:
        store.dispose()
    logging.shutdown()
    return 0
