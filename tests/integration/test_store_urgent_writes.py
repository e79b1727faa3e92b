"""A trade control's write is not starved by a writer that commits one transaction after another.

The writer ("hog") counts its commits in the row both update; the urgent write copies that count, so
`seen - before` is exactly how many hog transactions went ahead of the urgent one. On SQLite, without
engine/store/write_gate.py, the urgent write polled for the lock while the hog took it again: it waited
3.7-9.7 s (dozens of hog commits) or failed at the 10 s busy timeout. PostgreSQL queues lock waiters in
order, so there the same test holds without a gate.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid

from sqlalchemy import text

from engine.settings import PROJECT_ROOT
from engine.store import write_gate
from engine.store.db import Store
from engine.store.write_gate import urgent_writes

HOLD_S = 0.05  # each hog transaction holds the write lock this long
MAX_AHEAD = 2  # the hog transaction in progress, and one that began as the urgent write announced itself
HOG_SECONDS = 40.0  # every hog stops by then, whatever the test does

HOG_SCRIPT = """
import os, sys, time
from sqlalchemy import text
from engine.store.db import Store
store, table, hold, stop_file = Store(sys.argv[1]), sys.argv[2], float(sys.argv[3]), sys.argv[4]
end = time.monotonic() + float(sys.argv[5])
while time.monotonic() < end and not os.path.exists(stop_file):
    with store.write() as s:
        s.execute(text(f"UPDATE {table} SET n = n + 1 WHERE id = 1"))
        time.sleep(hold)
store.dispose()
"""


def _make_table(store: Store) -> str:
    table = f"urgent_probe_{uuid.uuid4().hex[:8]}"
    with store.write() as s:
        s.execute(text(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, n INTEGER NOT NULL, seen INTEGER)"))
        s.execute(text(f"INSERT INTO {table} (id, n, seen) VALUES (1, 0, NULL)"))
    return table


def _count(store: Store, table: str) -> int:
    with store.read() as s:
        return int(s.execute(text(f"SELECT n FROM {table} WHERE id = 1")).scalar_one())


def _wait_for_commits(store: Store, table: str, at_least: int) -> None:
    deadline = time.monotonic() + 20
    while _count(store, table) < at_least:
        assert time.monotonic() < deadline, "the hog did not commit"
        time.sleep(0.02)


def _urgent_rounds(store: Store, table: str, rounds: int = 3) -> list[int]:
    """Each round: one urgent write while the hog runs; how many hog commits went ahead of it."""
    ahead: list[int] = []
    for _ in range(rounds):
        before = _count(store, table)
        with urgent_writes(), store.write() as s:
            s.execute(text(f"UPDATE {table} SET seen = n WHERE id = 1"))
        with store.read() as s:
            seen = int(s.execute(text(f"SELECT seen FROM {table} WHERE id = 1")).scalar_one())
        ahead.append(seen - before)
        time.sleep(0.2)  # let the hog run freely again
    return ahead


def _drop(store: Store, table: str) -> None:
    with store.write() as s:
        s.execute(text(f"DROP TABLE {table}"))
    store.dispose()


def test_an_urgent_write_goes_before_a_hog_thread_of_the_same_process(any_db_url: str) -> None:
    """The hog writes through a Store of its own on the same database, as the embedded engine may."""
    store = Store(any_db_url)
    hog_store = Store(any_db_url)
    table = _make_table(store)
    stop = threading.Event()

    def hog() -> None:
        end = time.monotonic() + HOG_SECONDS
        while not stop.is_set() and time.monotonic() < end:
            with hog_store.write() as s:
                s.execute(text(f"UPDATE {table} SET n = n + 1 WHERE id = 1"))
                time.sleep(HOLD_S)

    thread = threading.Thread(target=hog, daemon=True)
    thread.start()
    try:
        _wait_for_commits(store, table, 3)
        ahead = _urgent_rounds(store, table)
    finally:
        stop.set()
        thread.join(HOG_SECONDS)
        hog_store.dispose()
    _drop(store, table)
    assert all(0 <= a <= MAX_AHEAD for a in ahead), f"hog commits ahead of each urgent write: {ahead}"


def test_an_urgent_write_goes_before_a_hog_process(any_db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = Store(any_db_url)
    table = _make_table(store)
    stop_file = tmp_path / "stop"
    hog = subprocess.Popen([sys.executable, "-c", HOG_SCRIPT, any_db_url, table, str(HOLD_S), str(stop_file),
                            str(HOG_SECONDS)], cwd=PROJECT_ROOT)
    try:
        _wait_for_commits(store, table, 3)
        ahead = _urgent_rounds(store, table)
    finally:
        stop_file.touch()
        try:
            hog.wait(HOG_SECONDS)
        except subprocess.TimeoutExpired:
            hog.kill()
            hog.wait(10)
    _drop(store, table)
    assert all(0 <= a <= MAX_AHEAD for a in ahead), f"hog commits ahead of each urgent write: {ahead}"


def test_a_marker_left_by_a_dead_process_is_ignored(sqlite_url: str) -> None:
    """A process killed during an urgent write leaves its marker: others yield to it only while it is fresh."""
    store = Store(sqlite_url)
    table = _make_table(store)
    markers = store.engine.url.database + ".urgent"  # type: ignore[operator]
    os.makedirs(markers, exist_ok=True)
    dead = os.path.join(markers, "999999999")
    open(dead, "w").close()
    old = time.time() - write_gate.MARKER_STALE_S - 1
    os.utime(dead, (old, old))
    t0 = time.monotonic()
    with store.write() as s:
        s.execute(text(f"UPDATE {table} SET n = n + 1 WHERE id = 1"))
    assert time.monotonic() - t0 < write_gate.MAX_YIELD_S  # did not sit out the yield limit
    assert not os.path.exists(dead)  # and cleaned it up
    fresh = os.path.join(markers, "999999998")
    open(fresh, "w").close()  # a live process's urgent write: a routine write waits for it, at most MAX_YIELD_S
    t0 = time.monotonic()
    with store.write() as s:
        s.execute(text(f"UPDATE {table} SET n = n + 1 WHERE id = 1"))
    waited = time.monotonic() - t0
    os.unlink(fresh)
    _drop(store, table)
    assert waited >= write_gate.MAX_YIELD_S * 0.9


def test_a_forked_child_does_not_inherit_an_urgent_write_under_way(sqlite_url: str) -> None:
    """gunicorn forks its workers: a child must not wait for an urgent write of its parent's thread."""
    store = Store(sqlite_url)
    table = _make_table(store)
    inside, release = threading.Event(), threading.Event()

    def urgent_and_slow() -> None:
        with urgent_writes(), store.write() as s:
            s.execute(text(f"UPDATE {table} SET seen = 1 WHERE id = 1"))
            inside.set()
            release.wait(30)

    thread = threading.Thread(target=urgent_and_slow)
    thread.start()
    try:
        assert inside.wait(30)
        gate = write_gate.gate_for(store.engine.url.database)  # type: ignore[arg-type]
        assert gate.urgent_under_way == 1
        pid = os.fork()
        if pid == 0:  # the child: report what its gate believes, and leave at once
            os._exit(10 + gate.urgent_under_way)
        _, status = os.waitpid(pid, 0)
    finally:
        release.set()
        thread.join(30)
    _drop(store, table)
    assert os.waitstatus_to_exitcode(status) == 10
