"""`python app.py` runs its engine in a process of its own (webapp/engine_process.py), on the same store.

- A newcomer's first run: the setup link is printed and works; the active engine is a child process
  of app.py (another pid), and while 12 client threads hammer the web process for 10 s the engine's
  kill-switch command poll keeps its 0.25 s period (longest gap between two polls reported and bounded).
- app.py SIGKILLed: its engine still gets a SIGTERM (the kernel's parent-death signal) and runs the
  graceful shutdown (trading STOPPED, lease released, exit).
- The engine process dies alone: app.py starts a new one, which takes the lease over.
(tests/integration/test_app_sigterm.py covers SIGTERM/SIGINT of app.py: exit 0 within 10 s, store = broker.)
Each test runs on SQLite and on PostgreSQL: about 90 s in all.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.settings import PROJECT_ROOT
from engine.store.db import Store
from engine.store.migrate import open_store
from engine.store.models import EngineHeartbeat, EngineLease, JobRun, TradingStateRow
from tests.integration.test_app_sigterm import free_port

pytestmark = pytest.mark.slow
LOAD_THREADS = 12
LOAD_SECONDS = 10.0
POLL_GAP_LIMIT_S = 2.0  # the issue measured 6.2 s with the engine inside the web process under 50 clients


def start_app(url: str, log: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "REGIMEDESK_DATABASE_URL": url, "REGIMEDESK_PORT": str(port),
           "REGIMEDESK_ENGINE_MODE": "embedded", "REGIMEDESK_TICK_SECONDS": "0.25", "REGIMEDESK_WARMUP_POLLS": "100",
           "REGIMEDESK_DEADMAN_ACTION": "none", "REGIMEDESK_LOG_LEVEL": "INFO"}
    return subprocess.Popen([sys.executable, "app.py"], cwd=PROJECT_ROOT, env=env, stdout=log.open("ab"),
                            stderr=subprocess.STDOUT)


def kill_if_running(proc: subprocess.Popen) -> None:
    """A test that failed half-way must not leave app.py (and its engine) running."""
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)


@contextmanager
def app_and_store(url: str, log: Path) -> Iterator[tuple[subprocess.Popen, Store]]:
    """app.py running on `url` (output to `log`) and the migrated store it uses, both cleaned up afterwards."""
    proc = start_app(url, log, free_port())
    store = open_store(url, migrate=True)
    try:
        yield proc, store
    finally:
        kill_if_running(proc)
        store.dispose()


def _until(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert proc is None or proc.poll() is None, f"app.py exited ({proc.returncode}) before: {what}"
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.1)


def active_engine(store: Store) -> EngineHeartbeat | None:
    with store.read() as s:
        lease = s.get(EngineLease, 1)
        if lease is None or lease.lease_until <= datetime.now(UTC):
            return None
        beat = s.get(EngineHeartbeat, lease.holder)
        return beat if beat is not None and beat.status == "active" else None


def parent_of(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def test_first_run_link_and_a_separate_engine_that_load_does_not_delay(tmp_path: Path, any_db_url: str) -> None:
    url = any_db_url  # a newcomer: no user yet (on SQLite no store at all)
    log, port = tmp_path / "app.log", free_port()
    proc = start_app(url, log, port)
    store = None
    try:
        link = _until(lambda: re.search(r"http://\S+/setup\?token=\S+", log.read_text(errors="replace")), 90,
                      "the first-run setup link", proc)
        assert _get(link.group(0)) == 200  # the one-time link opens the setup page
        store = open_store(url)
        beat = _until(lambda: active_engine(store), 60, "an active engine", proc)
        assert beat.pid != proc.pid and parent_of(beat.pid) == proc.pid, (beat.pid, proc.pid)

        stop = threading.Event()
        served = [0]

        def client() -> None:
            while not stop.is_set():
                if _get(f"http://127.0.0.1:{port}/login") == 200:
                    served[0] += 1

        threads = [threading.Thread(target=client, daemon=True) for _ in range(LOAD_THREADS)]
        started = datetime.now(UTC)
        for t in threads:
            t.start()
        time.sleep(LOAD_SECONDS)
        stop.set()
        for t in threads:
            t.join(15)
        ended = datetime.now(UTC)
        with store.read() as s:
            polls = list(s.scalars(select(JobRun.started_at).where(
                JobRun.engine_id == beat.engine_id, JobRun.job == "commands", JobRun.started_at >= started,
                JobRun.started_at <= ended).order_by(JobRun.started_at)))
        gaps = [(b - a).total_seconds() for a, b in zip(polls, polls[1:], strict=False)]
        print(f"{served[0]} pages served in {LOAD_SECONDS:.0f} s by {LOAD_THREADS} clients; {len(polls)} command polls, "
              f"longest gap {max(gaps):.2f} s")
        assert served[0] > LOAD_SECONDS * 5, "the web was not under load"
        assert len(polls) >= LOAD_SECONDS / 0.25 * 0.6, len(polls)
        assert max(gaps) <= POLL_GAP_LIMIT_S, gaps
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        _until(lambda: not alive(beat.pid), 10, "the engine process ends with app.py")
    finally:
        kill_if_running(proc)
        if store is not None:
            store.dispose()


def test_a_killed_web_process_still_stops_its_engine_gracefully(tmp_path: Path, any_db_url: str) -> None:
    with app_and_store(any_db_url, tmp_path / "app.log") as (proc, store):
        beat = _until(lambda: active_engine(store), 90, "an active engine", proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        _until(lambda: not alive(beat.pid), 15, "the orphaned engine stops")
        with store.read() as s:
            assert s.get(EngineHeartbeat, beat.engine_id).status == "stopped"  # type: ignore[union-attr]
            assert s.get(TradingStateRow, 1).state == "STOPPED"  # type: ignore[union-attr]
            assert s.get(EngineLease, 1).lease_until <= datetime.now(UTC)  # type: ignore[union-attr]  # released


def test_an_engine_process_that_dies_is_started_again(tmp_path: Path, any_db_url: str) -> None:
    with app_and_store(any_db_url, tmp_path / "app.log") as (proc, store):
        first = _until(lambda: active_engine(store), 90, "an active engine", proc)
        os.kill(first.pid, signal.SIGKILL)
        second = _until(lambda: (b := active_engine(store)) is not None and b.engine_id != first.engine_id and b, 45,
                        "a new engine process leads", proc)
        assert second.pid != first.pid and parent_of(second.pid) == proc.pid
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        assert not alive(second.pid)
