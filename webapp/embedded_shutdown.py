"""Graceful shutdown of `python app.py` (the embedded mode) on SIGTERM and SIGINT.

The same steps as `python -m engine` (engine/__main__.py run_engine): the trading shutdown sequence
through the engine's `shutdown` (its own process: EngineProcess sends it SIGTERM and waits; stop signals,
cancel open orders, flatten if the parameters say so, final broker sync, save state, STOPPED), then the
web's own background workers (dead-man watcher, notifier) stop, and the process exits 0.

The server is gunicorn's (webapp/embedded_server.py): its arbiter takes the signal, stops the HTTP worker,
then calls `EmbeddedShutdown.run` from its exit hook. A watchdog ends the process if it is still alive
`EXIT_DEADLINE_S` after the stop began (a thread that never returns must not keep a stopped engine's
process around): exit 0 when the shutdown steps finished, 1 when they did not.
"""
from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
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
        self._watchdog_started = False

    def start_watchdog(self) -> None:
        """From the first stop signal on, the process ends within `deadline_s` (later calls do nothing)."""
        with self._lock:
            if self._watchdog_started:
                return
            self._watchdog_started = True

        def force() -> None:
            code = 0 if self.finished.is_set() else 1
            log.error("still running %.1f s after the stop began: exiting now with %d (%s)", self.deadline_s, code,
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
