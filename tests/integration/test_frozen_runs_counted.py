"""Runs that never happened because the engine was frozen are counted as skipped: in job_runs (the job health
checks) and in /metrics' skipped counter. A real `python -m engine` process is SIGSTOPped for FREEZE_S.

Audit 3, defect 6: the scheduler coalesces missed runs (coalesce=True): after a 9 s freeze the ~36 market ticks
and ~36 kill-switch command polls (every 0.25 s) that never ran left no trace; the job checks stayed healthy.
Expected here, by hand: a job every 0.25 s misses about FREEZE_S / 0.25 - 1 runs.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.health.recorder import METRICS_KEY
from engine.store.db import Store
from engine.store.migrate import open_store
from engine.store.models import EngineHeartbeat, HealthResult, JobRun, KeyValue

PROJECT_ROOT = Path(__file__).resolve().parents[2]
FREEZE_S = 6.0
EVERY_S = 0.25  # the market job (REGIMEDESK_TICK_SECONDS) and the commands job (COMMAND_POLL_SECONDS)
pytestmark = [pytest.mark.slow]


def _wait(predicate: Callable[[], bool], timeout: float, what: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, f"the engine exited ({proc.returncode}) before: {what}"
        assert time.monotonic() < deadline, f"not within {timeout:.0f} s: {what}"
        time.sleep(0.2)


def _stalled(store: Store) -> dict[str, int]:
    with store.read() as s:
        return dict(s.execute(select(JobRun.job, func.count()).where(
            JobRun.outcome == "skipped", JobRun.error == "skipped: stalled").group_by(JobRun.job)).all())


def _health_runs(store: Store) -> int:
    with store.read() as s:
        return int(s.scalar(select(func.count(func.distinct(HealthResult.ts)))) or 0)


def test_runs_lost_to_a_frozen_engine_are_counted_as_skipped(any_db_url: str, tmp_path: Path) -> None:
    store = open_store(any_db_url, migrate=True)
    env = {**os.environ, "REGIMEDESK_DATABASE_URL": any_db_url, "REGIMEDESK_TICK_SECONDS": str(EVERY_S),
           "REGIMEDESK_WARMUP_POLLS": "200", "REGIMEDESK_LOG_LEVEL": "WARNING"}
    with open(tmp_path / "engine.log", "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "engine"], cwd=PROJECT_ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        with store.read() as s:
            assert s.scalar(select(func.count()).select_from(EngineHeartbeat)) == 0
        _wait(lambda: _health_runs(store) >= 1, 90, "the engine runs its first health job", proc)
        time.sleep(2.0)
        before = _stalled(store)
        t0 = time.monotonic()
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            time.sleep(FREEZE_S)
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        frozen_s = time.monotonic() - t0
        health_before = _health_runs(store)
        _wait(lambda: _health_runs(store) > health_before + 1, 60, "two health runs after the thaw", proc)
        after = _stalled(store)
        lower = int(frozen_s / EVERY_S * 0.8) - 1  # scheduling delays around the freeze move a few runs
        upper = int((frozen_s + 3.0) / EVERY_S)
        for job in ("market", "commands"):
            missed = after.get(job, 0) - before.get(job, 0)
            assert lower <= missed <= upper, f"{job}: {missed} runs counted as missed while frozen {frozen_s:.1f} s"
        with store.read() as s:
            metrics = s.get(KeyValue, METRICS_KEY)
            detail = s.scalars(select(HealthResult.detail).where(HealthResult.name == "job commands")
                               .order_by(HealthResult.id.desc()).limit(1)).first()
        assert metrics is not None and metrics.value["jobs"]["commands"]["skipped"] >= after["commands"]
        assert detail is not None
        skipped_in_check = int(detail.split(" skipped in 5 min")[0].rsplit(", ", 1)[1])
        assert skipped_in_check >= after["commands"]
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        store.dispose()
