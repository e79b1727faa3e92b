"""Standby takeover on PostgreSQL: after `kill -9` of the active `python -m engine`, the standby holds the
lease within 15 s (p95 over 5 kills), and the first order it sends is not held back by a planner period.

Slow (about a minute and a half): five leader processes are SIGKILLed in turn, each at a different point
of its 2-second renewal cycle; a fresh standby is started after each takeover.
"""
from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.settings import PROJECT_ROOT
from engine.store.db import Store
from engine.store.migrate import open_store
from engine.store.models import EngineHeartbeat, EngineLease, JobRun, OrderRow

KILLS = 5
GOAL_S = 15.0
pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def start_engine(url: str, log_path: str) -> subprocess.Popen:
    env = {**os.environ, "REGIMEDESK_DATABASE_URL": url, "REGIMEDESK_TICK_SECONDS": "0.25",
           "REGIMEDESK_WARMUP_POLLS": "200", "REGIMEDESK_LOG_LEVEL": "WARNING"}
    with open(log_path, "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "engine"], cwd=PROJECT_ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT)


def lease_holder_pid(store: Store) -> int | None:
    with store.read() as session:
        lease = session.get(EngineLease, 1)
        if lease is None:
            return None
        beat = session.get(EngineHeartbeat, lease.holder)
        return beat.pid if beat is not None else None


def engine_status(store: Store, pid: int) -> str | None:
    with store.read() as session:
        return session.scalars(select(EngineHeartbeat.status).where(EngineHeartbeat.pid == pid)
                               .order_by(EngineHeartbeat.last_beat.desc()).limit(1)).first()


def wait_until(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None) -> float:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    while not predicate():
        assert proc is None or proc.poll() is None, f"the engine exited ({proc.returncode}) before: {what}"
        assert time.monotonic() - start < timeout, f"not within {timeout} s: {what}"
        time.sleep(0.05)
    return time.monotonic() - start


@dataclass
class Takeover:
    seconds: float  # from the kill until the standby holds the lease
    first_plan_s: float  # until the new leader's planner has run (it submits the plan's orders, if any)
    first_order_s: float | None  # until the first new order, if the plan wanted one within the observation window


def _has_orders(store: Store) -> bool:
    with store.read() as session:
        return bool(session.scalar(select(func.count()).select_from(OrderRow)))


def measure_takeovers(url: str, kills: int, log_path: str, order_window_s: float = 12.0,
                      first_orders_s: float = 0.0,
                      after_takeover: Callable[[Store, int], None] | None = None) -> list[Takeover]:
    """Run `kills` SIGKILL-and-takeover rounds; return each one's timings (seconds after the kill).

    first_orders_s > 0: before the first kill, give the first leader up to that long to send its first
    orders (it buys in after its warm-up), so that orders flow before and after a takeover.
    after_takeover(store, round): called once the standby holds the lease (e.g. to give it a reason to trade)."""
    store = open_store(url, migrate=True)
    procs: list[subprocess.Popen] = []
    results: list[Takeover] = []
    try:
        leader = start_engine(url, log_path)
        procs.append(leader)
        wait_until(lambda: lease_holder_pid(store) == leader.pid, 60, "the first engine leads", leader)
        deadline = time.monotonic() + first_orders_s
        while time.monotonic() < deadline and not _has_orders(store):  # bounded; the market may not want any
            time.sleep(0.2)
        for i in range(kills):
            standby = start_engine(url, log_path)
            procs.append(standby)
            wait_until(lambda s=standby: engine_status(store, s.pid) == "standby", 60, "the new engine waits", standby)
            time.sleep(0.4 * i)  # kill at a different point of the leader's 2 s renewal cycle each round
            with store.read() as session:
                last_order = session.scalar(select(func.coalesce(func.max(OrderRow.id), 0)))
            killed_at = time.monotonic()
            os.kill(leader.pid, signal.SIGKILL)
            leader.wait(10)
            took = wait_until(lambda s=standby: lease_holder_pid(store) == s.pid, 30, "the standby takes the lease",
                              standby)
            with store.read() as session:
                holder = session.get(EngineLease, 1).holder  # type: ignore[union-attr]
            if after_takeover is not None:
                after_takeover(store, i)
            first_plan = None
            first_order = None
            while time.monotonic() - killed_at < took + order_window_s and (first_plan is None or first_order is None):
                with store.read() as session:
                    if first_plan is None and session.scalar(select(func.count()).where(
                            JobRun.job == "planner", JobRun.engine_id == holder)):
                        first_plan = time.monotonic() - killed_at
                    if first_order is None and session.scalar(select(func.count()).where(OrderRow.id > last_order)):
                        first_order = time.monotonic() - killed_at
                time.sleep(0.05)
            assert first_plan is not None, "the new leader never ran its planner"
            results.append(Takeover(took, first_plan, first_order))
            leader = standby
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        store.dispose()
    return results


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]  # nearest rank


def test_standby_takes_over_within_15_s_of_a_sigkill(pg_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    log_path = str(tmp_path / "engines.log")
    results = measure_takeovers(pg_url, KILLS, log_path)
    takeovers = [r.seconds for r in results]
    print("takeover s:", [f"{t:.2f}" for t in takeovers], "first plan s:", [f"{r.first_plan_s:.2f}" for r in results],
          "first order s:", [f"{r.first_order_s:.2f}" if r.first_order_s is not None else "-" for r in results])
    assert len(takeovers) == KILLS
    assert p95(takeovers) <= GOAL_S, (takeovers, Path(log_path).read_text()[-3000:])
    # No extra delay before trading: the new leader ticks the market and plans right after its start-up
    # (reconciliation), not one planner period (5 s) later. Whether the plan sends an order depends on
    # the market, so orders are reported, and the plan's timing is what is asserted.
    for r in results:
        assert r.first_plan_s - r.seconds <= 3.0, results


def test_a_frozen_leader_that_wakes_up_after_the_takeover_runs_no_trading_job(pg_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """SIGSTOP the leader past its lease, let the standby take over, SIGCONT it: the old leader's
    scheduler fires its overdue jobs at once, before its next heartbeat learns it lost the lease. Those
    runs must not trade: an engine whose lease may have lapsed fences itself."""
    log_path = str(tmp_path / "engines.log")
    store = open_store(pg_url, migrate=True)
    leader = start_engine(pg_url, log_path)
    standby = None
    try:
        wait_until(lambda: lease_holder_pid(store) == leader.pid, 60, "the first engine leads", leader)
        standby = start_engine(pg_url, log_path)
        wait_until(lambda: engine_status(store, standby.pid) == "standby", 60, "the second engine waits", standby)
        with store.read() as session:
            old_id = session.get(EngineLease, 1).holder  # type: ignore[union-attr]
        os.kill(leader.pid, signal.SIGSTOP)
        stopped_at = datetime.now(UTC)
        wait_until(lambda: lease_holder_pid(store) == standby.pid, 30, "the standby takes the lease", standby)
        with store.read() as session:
            after_takeover = session.scalar(select(func.max(JobRun.id)))
        os.kill(leader.pid, signal.SIGCONT)
        time.sleep(6.0)  # several of the old leader's heartbeats and overdue job runs
        with store.read() as session:
            late = session.execute(select(JobRun.job, JobRun.started_at, JobRun.duration_ms).where(
                JobRun.engine_id == old_id, JobRun.id > after_takeover,
                JobRun.job.in_(("market", "account", "planner", "risk", "reconcile", "commands")))).all()
            # a run already under way when the process froze finishes when it wakes (fencing at the start
            # of a run cannot stop it); no run may *start* after the freeze
            trading_runs = [(job, started) for job, started, _ms in late if started > stopped_at]
            status = session.get(EngineHeartbeat, old_id).status  # type: ignore[union-attr]
            holder = session.get(EngineLease, 1).holder  # type: ignore[union-attr]
        assert trading_runs == [], trading_runs
        assert status == "standby"  # it woke up, beat, and learnt it is no longer the leader
        assert holder != old_id
    finally:
        for proc in (leader, standby):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
                proc.kill()
                proc.wait(10)
        store.dispose()
