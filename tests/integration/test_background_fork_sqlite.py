"""Background children forked while other threads open and close SQLite connections (webapp/background_disk.py).

A child forked while another thread of the web process was opening or closing an SQLite connection inherited
SQLite's process-wide mutex locked and hung at its first query, holding a background slot for good (a fresh CI
run: a what-if that never ended). The web's threads open and close connections all the time: diskcache keeps one
per thread and closes it as a request thread ends; the store's pool opened and closed overflow connections per
burst. Real SQLite files, real forked children, real threads; every loop is bounded."""
from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import diskcache
import psutil
import pytest
from sqlalchemy import text

from engine.store.db import SQLITE_POOL_SIZE, Store
from webapp.background_disk import BoundedDiskcacheManager

FORKS = 40
CHILD_DEADLINE_S = 15.0  # a healthy child ends in well under a second, even niced on a busy machine


def query_store(db_path: str) -> None:
    """The child's job: one query on the store's file, as a what-if's first read."""
    connection = sqlite3.connect(db_path, timeout=5)
    try:
        connection.execute("SELECT count(*) FROM sqlite_master").fetchall()
    finally:
        connection.close()


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[tuple[BoundedDiskcacheManager, Store, str]]:
    db_path = str(tmp_path / "store.db")
    store = Store(f"sqlite:///{db_path}")
    manager = BoundedDiskcacheManager(diskcache.Cache(str(tmp_path / "cache")), slots=2)
    manager.watch_store(store)
    yield manager, store, db_path
    store.dispose()


def churn(manager: BoundedDiskcacheManager, store: Store, stop: threading.Event) -> None:
    """What a web process's threads do between forks: short-lived request threads that read the job cache,
    and bursts of store reads wider than the pool."""
    while not stop.is_set():
        requests = [threading.Thread(target=manager.get_progress, args=("no-such-job",)) for _ in range(4)]
        burst = [threading.Thread(target=read_once, args=(store,)) for _ in range(SQLITE_POOL_SIZE // 4)]
        for thread in requests + burst:
            thread.start()
        for thread in requests + burst:
            thread.join(10)


def read_once(store: Store) -> None:
    with store.read() as session:
        session.execute(text("SELECT 1")).all()


def test_children_forked_among_connection_churn_all_end(watched: tuple[BoundedDiskcacheManager, Store, str]) -> None:
    manager, store, db_path = watched
    stop = threading.Event()
    churners = [threading.Thread(target=churn, args=(manager, store, stop), daemon=True) for _ in range(3)]
    for thread in churners:
        thread.start()
    hung: list[int] = []
    started = 0
    try:
        deadline = time.monotonic() + 120
        while started < FORKS and time.monotonic() < deadline:
            job = manager.call_job_fn(f"job-{started}", manager.make_job_fn(query_store, False), [db_path], {})
            if not str(job).isdigit():  # refused: the process stayed busy for FORK_WAIT_S; try again
                continue
            started += 1
            child = psutil.Process(int(job))
            try:
                child.wait(CHILD_DEADLINE_S)
            except psutil.TimeoutExpired:
                hung.append(child.pid)
                child.kill()
                child.wait(5)
    finally:
        stop.set()
        for thread in churners:
            thread.join(30)
    assert started == FORKS, f"only {started} children started in 120 s"
    assert not hung, f"{len(hung)} of {FORKS} children hung: {hung}"
    assert manager.running_jobs() == 0
