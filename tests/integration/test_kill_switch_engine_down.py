"""The kill switch when the engine is hung (SIGSTOP) or dead (SIGKILL): a real `python -m engine`
process, the caller (web/CLI path) takes over the broker steps; nothing runs twice afterwards."""
from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.clock import SystemClock
from engine.store.migrate import open_store
from engine.store.models import CommandRow
from engine.trading import commands, control
from engine.trading import state as ts
from engine.trading.brokers.paper import PaperBroker
from engine.trading.control import SimpleControlContext
from engine.trading.state import TradingState
from tests.browser.test_trd001_kill_switch_dialog import rest_orders
from tests.integration.test_engine_sigterm import start_engine, stop, wait_active

pytestmark = pytest.mark.slow


@contextmanager
def sqlite_write_lock(url: str) -> Iterator[None]:
    con = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=10, isolation_level=None)
    try:
        con.execute("BEGIN IMMEDIATE")
        yield
        con.execute("ROLLBACK")
    finally:
        con.close()


def wait_stopped(pid: int, timeout_s: float = 10.0) -> None:
    """Until every thread of `pid` is stopped (kill() returns before the target's threads have stopped)."""
    deadline = time.monotonic() + timeout_s
    while True:
        states = []
        for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
            try:
                states.append(stat.read_text().rsplit(")", 1)[1].split()[0])
            except (OSError, IndexError):
                continue  # a thread that just ended
        if states and all(st in ("T", "t") for st in states):
            return
        assert time.monotonic() < deadline, f"process {pid} did not stop: thread states {states}"
        time.sleep(0.005)


def signal_outside_a_write(proc: subprocess.Popen, sig: signal.Signals, url: str) -> None:
    """SIGSTOP or SIGKILL the engine so that it is never frozen inside a SQLite write: the signal is sent while
    this process holds the write lock, which is kept until the signal took effect. CI once saw the engine take
    the lock between the signal and its effect and freeze holding it (a known SQLite limit, see the README's
    kill switch notes; PostgreSQL needs no such care: a frozen lock holder is terminated, test_kill_switch_pg_lock)."""
    with sqlite_write_lock(url) if url.startswith("sqlite") else nullcontext():
        proc.send_signal(sig)
        if sig == signal.SIGSTOP:
            wait_stopped(proc.pid)
        elif sig == signal.SIGKILL:
            proc.wait(timeout=10)


# one rerun: the 1.5 s bound is wall clock with the hung engine and a second xdist worker on two shared cores (CI
# measured 1.69 s once); a kill switch that is really slow fails twice
@pytest.mark.flaky(reruns=1, reruns_delay=2)
@pytest.mark.parametrize("how", ["hung", "killed"])
def test_kill_switch_with_the_engine_hung_or_killed(tmp_path, any_db_url: str, how: str):
    url = any_db_url
    store = open_store(url, migrate=True)
    ctx = SimpleControlContext(store=store, clock=SystemClock(), broker=PaperBroker(store, SystemClock()))
    proc = start_engine(url, tmp_path / "engine.log")
    try:
        wait_active(store, proc)
        rest_orders(ctx, 100, f"down-{how}")
        # A process frozen mid-write would hold SQLite's lock for good, and no writer could record HALTED
        signal_outside_a_write(proc, signal.SIGSTOP if how == "hung" else signal.SIGKILL, url)
        t0 = time.perf_counter()
        # the heartbeat may still look fresh: then the command is offered to the engine, which never
        # claims it, and this process takes over after handoff_s; if already stale, it acts at once
        result = control.perform(ctx, "web:test", "halt", reason=f"engine {how}", handoff_s=0.5)
        took = time.perf_counter() - t0
        assert result.status == "done", result.message
        assert result.executor.startswith(commands.process_label())  # this process, not the engine
        assert ctx.broker.list_open_orders() == []
        assert took < 1.5, f"kill switch took {took:.2f} s with the engine {how}"
        with store.read() as s:
            assert ts.current(s).state is TradingState.HALTED
        if how == "hung":  # the engine wakes up: it must not run the command again
            proc.send_signal(signal.SIGCONT)
            time.sleep(1.5)
            with store.read() as s:
                cmd = s.get(CommandRow, result.command_id)
                kinds = list(s.scalars(select(CommandRow.kind).where(CommandRow.status == "pending")))
            assert cmd is not None and cmd.status == "done"
            assert cmd.result["executor"].startswith(commands.process_label())
            assert kinds == []
            code, _ = stop(proc)
            assert code == 0
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.kill()
            proc.wait(timeout=10)
    store.dispose()


# SQLite only: it is about SQLite's database-wide write lock (PostgreSQL's row locks: test_kill_switch_pg_lock.py)
def test_kill_switch_says_what_to_do_when_sqlite_stays_locked(tmp_path, monkeypatch):
    """A process frozen inside a SQLite write keeps the lock: the HALT cannot be recorded, and the
    operator gets a message saying so and what to do, not an error page; nothing reaches the broker."""
    from engine.store import db

    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 300)  # the real 10 s would only slow the test
    url = f"sqlite:///{tmp_path}/locked.db"
    store = open_store(url, migrate=True)
    ctx = SimpleControlContext(store=store, clock=SystemClock(), broker=PaperBroker(store, SystemClock()))
    with store.write() as s:
        ts.ensure_state(s, ctx.clock.now())
    with sqlite_write_lock(url):
        result = control.perform(ctx, "web:alice", "halt", reason="locked store", execute="here")
    assert result.status == "refused"
    assert result.message.startswith("halt not recorded: the database refused the write (database is locked)")
    assert "kill -9" in result.message
    with store.read() as s:
        assert ts.current(s).state is TradingState.ACTIVE  # the lock is gone now: a retry would work
    assert control.perform(ctx, "web:alice", "halt", reason="retry", execute="here").status == "done"
    store.dispose()
