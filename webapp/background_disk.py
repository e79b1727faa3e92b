"""The bounded diskcache manager of background callbacks (embedded mode, no Redis): webapp/background.py's
docstring says what it bounds and why. A job is a child process forked from the web process; the registry of
running jobs lives in the shared diskcache directory, so every gunicorn worker on the machine counts the same jobs.
"""
from __future__ import annotations

import hashlib
import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from dash import DiskcacheManager
from flask import g, has_request_context, request, session

from engine.store.db import Store, guard_sqlite_connections
from webapp.auth.errors import ALERT_ID
from webapp.auth.sessions import CSRF_KEY

log = logging.getLogger(__name__)

BACKGROUND_SLOTS = 2  # diskcache: background children running at once on this machine (all web workers together)
BACKGROUND_NICE = 10  # the children's niceness: the engine and the kill switch's request threads go first
RESERVED_S = 30.0  # a slot reserved by a web worker that died before starting its child is free again after this
PARENT_CHECK_S = 1.0  # how often a child checks that its web process is still there
REGISTRY_KEY = "regimedesk-running-jobs"  # in the shared cache: {token: {owner, what, pid, created, since}}
REFUSED_BUSY = "regimedesk-refused-busy"  # the job handle of a job refused because every slot is taken
REFUSED_OWN = "regimedesk-refused-own"  # ... refused because the same session's run of the callback is running
FORK_WAIT_S = 2.0  # how long a job start waits for this process's SQLite work to pause before it forks
CHILD_SIGNALS = ("SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGWINCH", "SIGABRT")


def login_owner() -> str:
    """The login session asking (a hash of its CSRF token, fresh at each login; never the token itself)."""
    if not has_request_context():
        return ""
    token = str(session.get(CSRF_KEY) or "")
    return hashlib.sha256(token.encode()).hexdigest()[:16] if token else ""


def callback_output() -> str:
    """The callback asked for: its output key, as the callback request names it."""
    if not has_request_context():
        return ""
    body = request.get_json(silent=True)
    output = body.get("output") if isinstance(body, dict) else None
    return output[:200] if isinstance(output, str) else ""


def _alive(pid: int | None, created: float | None) -> bool:
    """Is the child `pid` (started at `created`) still running? A zombie has finished; a reused pid is not it."""
    import psutil  # local import: dash's DiskcacheManager needs it too, only in the embedded mode

    if not pid:
        return False
    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and (created is None or process.create_time() == created)
    except psutil.Error:
        return False


class ForkGate:
    """Forks only while no thread of this process is inside SQLite: the store's checked-out connections and the
    job cache's calls are counted, and a fork waits (bounded) until none is in use, new ones waiting meanwhile.

    A child forked while another thread is in a SQLite transaction inherits SQLite's in-process lock records
    (the locks themselves stay with the parent) and waits on them until its busy timeout: under a burst of
    requests a what-if child hung that way, holding its slot. A child forked while another thread opens or closes
    an SQLite connection inherits SQLite's process-wide mutex locked and hangs for good (159 of 200 forks in a
    probe): connections are opened and closed inside the gate too (the store's through its connect guard, the
    job cache's by BoundedDiskcacheManager._cache)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._active: dict[int, int] = {}  # what is in use -> the thread using it
        self._forking = False

    def enter(self, ident: int) -> None:
        """Wait while a fork is pending, unless this thread is already inside (a nested call must not wait on
        the fork that waits on it)."""
        me = threading.get_ident()
        with self._cond:
            while self._forking and me not in self._active.values():
                self._cond.wait()
            self._active[ident] = me

    def leave(self, ident: int) -> None:
        with self._cond:
            self._active.pop(ident, None)
            self._cond.notify_all()

    @contextmanager
    def using(self) -> Iterator[None]:
        ident = id(object()) ^ threading.get_ident()
        self.enter(ident)
        try:
            yield
        finally:
            self.leave(ident)

    @contextmanager
    def forking(self) -> Iterator[bool]:
        """Yields whether the process is quiet (else the caller refuses); nobody enters until the block ends."""
        with self._cond:
            self._forking = True
            try:
                yield self._cond.wait_for(lambda: not self._active, FORK_WAIT_S)
            finally:
                self._forking = False
                self._cond.notify_all()

    def reset_in_child(self) -> None:
        """The child inherited the condition locked by the forking thread: start afresh."""
        self._cond = threading.Condition()
        self._active = {}
        self._forking = False

    def watch(self, engine: Any) -> None:
        """Count the engine's checked-out connections (a pooled, checked-in connection holds no SQLite lock), and
        open and close its connections inside the gate (their first one too, with SQLAlchemy's first queries)."""
        from sqlalchemy import event  # local import: only stores that are watched need it

        if engine.dialect.name != "sqlite" or getattr(engine, "_regimedesk_fork_gate", None) is self:
            return
        event.listen(engine, "checkout", lambda _dbapi, record, _proxy: self.enter(id(record)))
        event.listen(engine, "checkin", lambda _dbapi, record: self.leave(id(record)))  # dbapi None if invalidated
        guard_sqlite_connections(engine, self.using)
        engine._regimedesk_fork_gate = self
        with self.using(), engine.connect():
            pass


def _run_child(job_fn: Any, parent: int, args: tuple[Any, ...], gate: ForkGate) -> None:
    """The child's entry: lower priority, default signals, gone with its web process; then the job.

    The child is forked from a gunicorn worker and inherited its handlers: its SIGTERM handler only clears the
    worker's `alive` flag, so a child ignored SIGTERM and, once the server had stopped, ran on under init."""
    gate.reset_in_child()
    for name in CHILD_SIGNALS:
        signal.signal(getattr(signal, name), signal.SIG_DFL)
    with suppress(ValueError):
        signal.set_wakeup_fd(-1)  # the worker's wake-up pipe: a signal to the child must not wake the worker
    with suppress(OSError):
        os.nice(BACKGROUND_NICE)

    def watch() -> None:
        while True:
            time.sleep(PARENT_CHECK_S)
            if os.getppid() != parent:  # the web process is gone: nobody polls for this result any more
                os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
    job_fn(*args)


class BoundedDiskcacheManager(DiskcacheManager):
    """dash's DiskcacheManager with a bound on running children, shared by every web worker of the machine.

    A refused job gets the handle REFUSED_BUSY or REFUSED_OWN; the browser's first poll ends it and opens the
    page's alert with the reason (as BoundedCeleryManager does for a job that could not be queued)."""

    def __init__(self, cache: Any, expire: int | None = None, slots: int = BACKGROUND_SLOTS) -> None:
        super().__init__(cache, expire=expire)
        self.slots = slots
        self.gate = ForkGate()
        self._depth = threading.local()  # nested _cache uses by this thread

    @contextmanager
    def _cache(self) -> Iterator[None]:
        """Use the job cache inside the ForkGate, and close this thread's cache connection as the outermost use
        ends: diskcache keeps one connection per thread, and one left open is closed as its thread ends, outside
        the gate (werkzeug's threaded server ends a thread per request)."""
        with self.gate.using():
            self._depth.n = getattr(self._depth, "n", 0) + 1
            try:
                yield
            finally:
                self._depth.n -= 1
                if not self._depth.n:
                    self.handle.close()

    def watch_store(self, store: Store) -> None:
        """Fork only while the web's own store is not in use (ForkGate); app.create_app calls this."""
        self.gate.watch(store.engine)

    def message(self, job: str) -> str:
        if job == REFUSED_OWN:
            return ("Your earlier run of this is still running (from this or another tab); nothing new was started: "
                    "wait for it to finish, then try again.")
        return (f"{self.slots} background jobs are running (the most this server runs at once); nothing new was "
                "started: try again when one finishes.")

    def _running(self) -> dict[str, dict[str, Any]]:
        """The registry without finished children and stale reservations; call inside a transaction."""
        now = time.time()
        registry = self.handle.get(REGISTRY_KEY, {})
        if not isinstance(registry, dict):
            registry = {}
        return {token: entry for token, entry in registry.items()
                if (entry.get("pid") is None and now - float(entry.get("since", 0)) < RESERVED_S)
                or _alive(entry.get("pid"), entry.get("created"))}

    def _reserve(self, owner: str, what: str) -> str:
        """A slot's token, or REFUSED_OWN / REFUSED_BUSY; one transaction across every web worker."""
        with self._cache(), self.handle.transact():
            running = self._running()
            if owner and any(e.get("owner") == owner and e.get("what") == what for e in running.values()):
                refusal = REFUSED_OWN
            elif len(running) >= self.slots:
                refusal = REFUSED_BUSY
            else:
                refusal = ""
                token = uuid.uuid4().hex
                running[token] = {"owner": owner, "what": what, "pid": None, "created": None, "since": time.time()}
            self.handle.set(REGISTRY_KEY, running)
        return refusal or token

    def _record(self, token: str, pid: int | None) -> None:
        """The started child's pid on its slot (None: the start failed, the slot is free again)."""
        import psutil  # local import: as in _alive

        created: float | None = None
        if pid is not None:
            try:
                created = psutil.Process(pid).create_time()
            except psutil.Error:
                pid = None  # finished already
        with self._cache(), self.handle.transact():
            running = self._running()
            if pid is None:
                running.pop(token, None)
            elif token in running:
                running[token] = {**running[token], "pid": pid, "created": created}
            self.handle.set(REGISTRY_KEY, running)

    def running_jobs(self) -> int:
        with self._cache(), self.handle.transact():
            return len(self._running())

    def call_job_fn(self, key: Any, job_fn: Any, args: Any, context: Any) -> Any:
        from multiprocess import Process  # local import: as dash's own manager (a dash[diskcache] extra)

        owner, what = login_owner(), callback_output()
        token = self._reserve(owner, what)
        if token in (REFUSED_OWN, REFUSED_BUSY):
            log.warning("background job %s refused: %s", what or "?", self.message(token))
            return token
        pid: int | None = None
        try:
            process = Process(target=_run_child,
                              args=(job_fn, os.getpid(), (key, self._make_progress_key(key), args, context), self.gate))
            with self.gate.forking() as quiet:
                if quiet:
                    process.start()
                    pid = process.pid
        finally:
            self._record(token, pid)
        if pid is None:
            log.warning("background job %s refused: the web process was busy for %.0f s", what or "?", FORK_WAIT_S)
            return REFUSED_BUSY
        return pid

    def get_result(self, key: Any, job: Any) -> Any:
        if job in (REFUSED_OWN, REFUSED_BUSY):
            if has_request_context():
                g.regimedesk_background_refused = job
            return self.UNDEFINED
        with self._cache():
            return super().get_result(key, job)

    def job_running(self, job: Any) -> bool:
        return job not in (REFUSED_OWN, REFUSED_BUSY) and bool(super().job_running(job))

    def terminate_job(self, job: Any) -> None:
        if job not in (REFUSED_OWN, REFUSED_BUSY):
            with self._cache():
                super().terminate_job(job)

    def terminate_unhealthy_job(self, job: Any) -> bool:
        return job not in (REFUSED_OWN, REFUSED_BUSY) and bool(super().terminate_unhealthy_job(job))

    def get_progress(self, key: Any) -> Any:
        with self._cache():
            return super().get_progress(key)

    def result_ready(self, key: Any) -> bool:
        with self._cache():
            return bool(super().result_ready(key))

    def clear_cache_entry(self, key: Any) -> None:
        with self._cache():
            super().clear_cache_entry(key)

    def get_or_create_signing_secret(self, generate: Any) -> Any:
        with self._cache():
            return super().get_or_create_signing_secret(generate)

    def get_updated_props(self, key: Any) -> Any:
        with self._cache():
            props = super().get_updated_props(key)
        refused = g.get("regimedesk_background_refused") if has_request_context() else None
        if refused:
            return {**(props or {}), ALERT_ID: {"children": self.message(refused), "is_open": True}}
        return props
