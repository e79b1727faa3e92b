"""`python -m engine` runs as its own process and exits 0 within seconds of SIGTERM or SIGINT."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select

from engine.settings import PROJECT_ROOT
from engine.store.db import Store
from engine.store.migrate import open_store
from engine.store.models import BarRow, EngineHeartbeat


def _start_engine(url: str) -> subprocess.Popen:
    env = {**os.environ, "REGIMEDESK_DATABASE_URL": url, "REGIMEDESK_TICK_SECONDS": "0.2",
           "REGIMEDESK_WARMUP_POLLS": "100"}
    return subprocess.Popen([sys.executable, "-m", "engine"], cwd=PROJECT_ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for_bars(store: Store, proc: subprocess.Popen, more_than: int, within_s: float = 30.0) -> None:
    """Until the engine has stored more than `more_than` bars (it is up and its market job runs)."""
    deadline = time.time() + within_s
    while True:
        with store.read() as session:
            if (session.scalar(select(func.count()).select_from(BarRow)) or 0) > more_than:
                return
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        assert time.time() < deadline, f"the engine stored no more than {more_than} bars within {within_s:g} s"
        time.sleep(0.2)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_engine_process_exits_cleanly_on_signal(any_db_url: str, signum: int) -> None:
    store = open_store(any_db_url, migrate=True)
    proc = _start_engine(any_db_url)
    try:
        wait_for_bars(store, proc, more_than=100 * 9)
        sent = time.monotonic()
        proc.send_signal(signum)
        try:
            code = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # say what it was doing: every thread's stack (SIGUSR1, faulthandler)
            proc.send_signal(signal.SIGUSR1)
            time.sleep(1.0)
            proc.kill()
            tail = (proc.communicate(timeout=10)[0] or "")[-8000:]
            pytest.fail(f"the engine did not exit within 10 s of {signal.Signals(signum).name}; its output:\n{tail}")
        elapsed = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    output = proc.stdout.read() if proc.stdout else ""
    assert code == 0, output
    assert elapsed < 5.0
    with store.read() as session:
        statuses = session.scalars(select(EngineHeartbeat.status)).all()
    assert statuses == ["stopped"]


# SQLite only: an empty store is a fresh file; on PostgreSQL the session database is migrated, and the refusal of a
# schema behind (both databases) is tested in test_schema_refusal.py
def test_engine_refuses_an_unmigrated_database(tmp_path) -> None:  # type: ignore[no-untyped-def]
    proc = _start_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    output, _ = proc.communicate(timeout=30)
    assert proc.returncode != 0
    assert "python -m engine migrate" in output


def test_sigusr1_prints_every_threads_stack_and_the_engine_runs_on(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """An operator's `kill -USR1 PID` on a slow engine shows what each thread is doing, and changes nothing."""
    url = f"sqlite:///{tmp_path / 'usr1.db'}"
    store = open_store(url, migrate=True)
    proc = _start_engine(url)
    try:
        wait_for_bars(store, proc, more_than=100 * 9)  # past the warm-up: the scheduler's job threads run
        proc.send_signal(signal.SIGUSR1)
        time.sleep(1.0)
        assert proc.poll() is None, "SIGUSR1 must not stop the engine"
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert output.count("(most recent call first)") >= 2, output[-3000:]  # the main thread and the job threads
    assert "MainThread (most recent call first)" in output, output[-3000:]
