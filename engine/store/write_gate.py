"""Trade controls write first on SQLite.

SQLite has one writer at a time, and a writer that finds the lock taken polls for it (the busy handler
sleeps 1 to 100 ms between tries). A process that writes in a loop (the engine's market job when the
machine is slow) takes the lock again before a polling writer wakes up, so a kill switch could wait
seconds, or fail at the busy timeout, behind routine bar writes. Measured before this gate: a thread
committing one 50 ms transaction after another held off another write for 3.7-9.7 s, or past the 10 s
timeout.

Inside `urgent_writes()` (the trade controls, the dead-man's switch, and every state-changing web request:
a person is waiting for it), a write announces itself: other
writers of this process wait on a condition, and writers in other processes see a marker file and
yield, before they begin. The urgent write then takes the lock as soon as the transaction in progress
ends. Normal writers yield at most MAX_YIELD_S, so a hung urgent write cannot stall the engine, and a
marker older than MARKER_STALE_S (its process died) is ignored and removed.

PostgreSQL queues lock waiters in order, so there the gate does nothing.
"""
from __future__ import annotations

import contextvars
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MAX_YIELD_S = 2.0
MARKER_STALE_S = 15.0
_POLL_S = 0.005
_URGENT: contextvars.ContextVar[bool] = contextvars.ContextVar("urgent_writes", default=False)


def mark_urgent() -> contextvars.Token[bool]:
    """urgent_writes() for code that cannot wrap a block (a web request: set here, reset_urgent at teardown)."""
    return _URGENT.set(True)


def reset_urgent(token: contextvars.Token[bool]) -> None:
    _URGENT.reset(token)


@contextmanager
def urgent_writes() -> Iterator[None]:
    """Every store write made in this block (this thread or task) goes before routine writes."""
    token = mark_urgent()
    try:
        yield
    finally:
        reset_urgent(token)


def is_urgent() -> bool:
    return _URGENT.get()


_GATES: dict[str, SqliteWriteGate] = {}
_GATES_LOCK = threading.Lock()


def gate_for(database: str) -> SqliteWriteGate:
    """One gate per database file and process: every Store on the file (the web's, the embedded engine's)
    must see the same urgent writes, since a process skips its own marker file."""
    key = os.path.realpath(database)
    with _GATES_LOCK:
        gate = _GATES.get(key)
        if gate is None:
            gate = _GATES[key] = SqliteWriteGate(key)
        return gate


def _reset_gates_in_child() -> None:
    """A forked child (a web worker) starts with no urgent write of its own under way, whatever a thread of
    its parent was doing at the fork; Stores made before the fork keep their gate objects."""
    global _GATES_LOCK
    _GATES_LOCK = threading.Lock()
    for gate in _GATES.values():
        gate.reset_after_fork()


os.register_at_fork(after_in_child=_reset_gates_in_child)


class NoGate:
    """PostgreSQL and private stores: writes need no ordering."""

    @contextmanager
    def entry(self) -> Iterator[None]:
        yield


class SqliteWriteGate(NoGate):
    """Orders one SQLite database's writers: urgent ones first (see the module docstring)."""

    def __init__(self, database: str) -> None:
        self._cond = threading.Condition()
        self._waiting = 0  # urgent writes of this process not yet committed
        self._markers = Path(f"{database}.urgent")  # one file per process with urgent writes under way

    @property
    def urgent_under_way(self) -> int:
        """Urgent writes of this process begun and not yet committed."""
        return self._waiting

    def reset_after_fork(self) -> None:
        self._cond = threading.Condition()
        self._waiting = 0

    @property
    def _mine(self) -> Path:
        return self._markers / str(os.getpid())  # read at use: a forked web worker is a process of its own

    @contextmanager
    def entry(self) -> Iterator[None]:
        if not is_urgent():
            self._yield_to_urgent()
            yield
            return
        self._announce()
        try:
            yield
        finally:
            self._withdraw()

    def _announce(self) -> None:
        with self._cond:
            self._waiting += 1
            if self._waiting == 1:
                try:
                    self._markers.mkdir(exist_ok=True)
                    self._mine.touch()
                except OSError:  # a read-only folder: other processes are not told, this process still is
                    pass

    def _withdraw(self) -> None:
        with self._cond:
            self._waiting -= 1
            if self._waiting == 0:
                self._mine.unlink(missing_ok=True)
            self._cond.notify_all()

    def _yield_to_urgent(self) -> None:
        deadline = time.monotonic() + MAX_YIELD_S
        with self._cond:
            while self._waiting and (left := deadline - time.monotonic()) > 0:
                self._cond.wait(left)
        while self._other_process_urgent() and time.monotonic() < deadline:
            time.sleep(_POLL_S)

    def _other_process_urgent(self) -> bool:
        try:
            entries = list(os.scandir(self._markers))
        except OSError:  # no marker folder: nobody has been urgent
            return False
        now = time.time()
        mine = str(os.getpid())
        for entry in entries:
            if entry.name == mine:
                continue
            try:
                if now - entry.stat().st_mtime < MARKER_STALE_S:
                    return True
                os.unlink(entry.path)  # left by a process that died during an urgent write
            except OSError:
                continue
        return False
