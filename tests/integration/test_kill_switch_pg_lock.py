"""PostgreSQL: a process frozen (SIGSTOP) while holding the trading-state row lock does not block the
kill switch. The HALT waits at most STATE_LOCK_TIMEOUT_MS (0.5 s), terminates that session, audits it, and
completes; the frozen process's transaction is rolled back when it wakes."""
from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import select

from engine.clock import SystemClock
from engine.store.models import AuditEvent, TradingStateRow
from engine.trading import control
from engine.trading import state as ts
from engine.trading.state import TradingState
from tests.trading_control_fixtures import make_ctx, place_resting_orders

pytestmark = pytest.mark.postgres

HOLDER = r"""
import sys, time, psycopg
con = psycopg.connect(sys.argv[1], application_name="frozen-holder")
con.execute("SELECT state FROM trading_state WHERE id = 1 FOR UPDATE")
print(con.execute("SELECT pg_backend_pid()").fetchone()[0], flush=True)
time.sleep(1.0)  # frozen here by the test (SIGSTOP), lock held
try:
    con.execute("UPDATE trading_state SET reason = 'frozen writer' WHERE id = 1")
    con.commit()
    print("committed", flush=True)
except Exception as exc:
    print("failed:", type(exc).__name__, flush=True)
"""


@pytest.fixture()
def ctx(tmp_path, pg_url):
    c = make_ctx(tmp_path, SystemClock(), url=pg_url)
    yield c
    c.store.dispose()


def test_kill_switch_frees_the_state_lock_held_by_a_frozen_process(ctx, pg_url):
    place_resting_orders(ctx, 20)
    with ctx.store.write() as s:
        ts.ensure_state(s, ctx.clock.now())
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, pg_url], stdout=subprocess.PIPE, text=True)
    try:
        holder_backend = int(holder.stdout.readline())  # the lock is held from here on
        holder.send_signal(signal.SIGSTOP)

        t0 = time.perf_counter()
        result = control.perform(ctx, "web:alice", "halt", reason="frozen holder", execute="here")
        took = time.perf_counter() - t0

        assert result.status == "done", result.message
        assert took < control.STATE_LOCK_TIMEOUT_MS / 1000 + 2.0, f"kill switch took {took:.2f} s"
        assert ctx.broker.list_open_orders() == []
        assert result.steps[0].detail == f"ACTIVE → HALTED; freed the state lock held by pid {holder_backend} (frozen-holder)"
        with ctx.store.read() as s:
            assert ts.current(s).state is TradingState.HALTED
            released = s.scalars(select(AuditEvent).where(AuditEvent.action == "control.state_lock_released")).one()
        assert released.actor == "web:alice" and released.outcome == "ok"
        sessions = released.details["sessions"]
        assert [(x["pid"], x["application_name"], x["terminated"]) for x in sessions] == [
            (holder_backend, "frozen-holder", True)]

        holder.send_signal(signal.SIGCONT)  # it wakes: its write must not land over the HALT
        out, _ = holder.communicate(timeout=20)
        assert out.strip().startswith("failed:"), out
        with ctx.store.read() as s:
            row = s.get(TradingStateRow, 1)
            assert row is not None and row.state == "HALTED" and row.reason == "frozen holder"
    finally:
        if holder.poll() is None:
            holder.send_signal(signal.SIGCONT)
            holder.kill()
            holder.wait(timeout=10)


def test_plain_readers_are_never_terminated(ctx, pg_url):
    """A long read transaction (a report, a backup) holds no row lock: the HALT passes it untouched."""
    import psycopg

    with ctx.store.write() as s:
        ts.ensure_state(s, ctx.clock.now())
    reader = psycopg.connect(pg_url, application_name="long-reader")
    try:
        reader.execute("SELECT * FROM trading_state")  # transaction open, AccessShareLock held
        result = control.perform(ctx, "web:alice", "halt", reason="with a reader", execute="here")
        assert result.status == "done", result.message
        assert reader.execute("SELECT state FROM trading_state WHERE id = 1").fetchone() is not None
        with ctx.store.read() as s:
            assert s.scalars(select(AuditEvent).where(AuditEvent.action == "control.state_lock_released")).all() == []
    finally:
        reader.close()
