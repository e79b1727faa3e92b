"""`python app.py`'s engine in a process of its own, started and stopped with the web.

In one interpreter, browser load starved the engine (its jobs and the kill switch's command poll
waited behind web threads for the GIL). `python app.py` therefore runs `python -m engine` as a child
process on the same store: the web process only serves pages, the engine keeps its schedule whatever
the browsers do. The two share nothing but the store, exactly like the production deployment.

- Start: after the web migrated the store (the child refuses a schema that is not current).
- Stop: `shutdown()` (called by webapp/embedded_shutdown.py on SIGTERM/SIGINT) sends SIGTERM to the
  child, whose own handler runs the graceful shutdown (cancel, optionally flatten, final sync, STOPPED),
  and waits for it; a child still alive after `stop_timeout_s` is killed.
- The web process killed outright (SIGKILL): the child gets SIGTERM from the kernel (Linux
  PR_SET_PDEATHSIG, set by the child itself, see engine/__main__.py) and shuts down the same way.
- The child dies on its own: restarted, at most RESTARTS_PER_WINDOW times per RESTART_WINDOW_S. An exit 0
  follows its graceful shutdown (the Trade controls' shutdown, or a signal sent to it alone): that is no
  error, and the restarted engine keeps trading STOPPED (on_engine_start) until an operator resumes.
"""
from __future__ import annotations

import atexit
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque

from engine.settings import PROJECT_ROOT

log = logging.getLogger(__name__)

PARENT_ENV = "REGIMEDESK_ENGINE_PARENT_PID"  # the child stops when this process is gone
RESTARTS_PER_WINDOW = 5
RESTART_WINDOW_S = 60.0


class EngineProcess:
    """The child `python -m engine` of a web process (server.extensions[app.ENGINE_KEY])."""

    def __init__(self, stop_timeout_s: float = 8.0, restart_delay_s: float = 1.0) -> None:
        self.stop_timeout_s = stop_timeout_s
        self.restart_delay_s = restart_delay_s
        self.proc: subprocess.Popen | None = None
        self.restarts = 0
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._restarted_at: deque[float] = deque(maxlen=RESTARTS_PER_WINDOW)
        self._watcher: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def _spawn(self) -> subprocess.Popen:
        env = {**os.environ, PARENT_ENV: str(os.getpid())}
        # stdout/stderr inherited: the engine's log lines appear on the same console
        return subprocess.Popen([sys.executable, "-m", "engine"], cwd=PROJECT_ROOT, env=env)

    def start(self) -> EngineProcess:
        with self._lock:
            self.proc = self._spawn()
        log.info("engine started in its own process (pid %d)", self.proc.pid)
        self._watcher = threading.Thread(target=self._watch, name="engine-process", daemon=True)
        self._watcher.start()
        atexit.register(self.shutdown)
        return self

    def _watch(self) -> None:
        """Restart a child that exited while the web still runs (bounded), until shutdown."""
        while not self._stopping.is_set():
            proc = self.proc
            if proc is None:
                return
            code = proc.wait()
            if self._stopping.is_set():
                return
            now = time.monotonic()
            if len(self._restarted_at) == RESTARTS_PER_WINDOW and now - self._restarted_at[0] < RESTART_WINDOW_S:
                log.error("the engine process exited (%s) %d times within %.0f s: not restarted again; the web goes "
                          "on without an engine (the dead-man's switch watches)", code, RESTARTS_PER_WINDOW,
                          RESTART_WINDOW_S)
                return
            if code == 0:  # its graceful shutdown ran (a shutdown command, or a signal that reached it alone)
                log.warning("the engine process stopped after a graceful shutdown; starting it again in %.1f s "
                            "(trading stays STOPPED until an operator resumes)", self.restart_delay_s)
            else:
                log.error("the engine process exited with %s; restarting it in %.1f s", code, self.restart_delay_s)
            if self._stopping.wait(self.restart_delay_s):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                self._restarted_at.append(now)
                self.restarts += 1
                self.proc = self._spawn()
            log.info("engine restarted (pid %d)", self.proc.pid)

    def shutdown(self, actor: str = "system:signal", flatten: bool | None = None) -> None:  # noqa: ARG002
        """SIGTERM the child (its graceful shutdown runs there) and wait; idempotent.

        `actor`/`flatten` match EngineService.shutdown: the child's shutdown is the signal's
        (actor system:signal, flatten as the parameters say)."""
        with self._lock:
            first = not self._stopping.is_set()
            self._stopping.set()
            proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        if first:
            log.info("stopping the engine process (pid %d)", proc.pid)
            try:
                proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                return
        try:
            code = proc.wait(self.stop_timeout_s)
            log.info("the engine process stopped with %s", code)
        except subprocess.TimeoutExpired:
            log.error("the engine process (pid %d) did not stop within %.1f s: killed", proc.pid, self.stop_timeout_s)
            proc.kill()
            proc.wait(5)
