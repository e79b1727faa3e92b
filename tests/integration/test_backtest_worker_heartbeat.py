"""A backtest whose worker on ANOTHER machine dies (kill -9, machine lost) stayed "running" for ever: the page only
judged job processes of its own machine. The job now stamps a heartbeat on its run (database time) every few
seconds, and a run whose heartbeat is older than the threshold is stored as failed with the time of the last one.

The worker is a real subprocess in its own UTS namespace (`unshare -u`) with another host name, so this machine
cannot judge it by its process id: only the heartbeat can prove it gone.
"""
from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from engine.backtest import run_jobs, runs
from engine.settings import load_settings
from engine.store.migrate import open_store
from tests.integration import backtest_data
from tests.integration.test_backtest_audit21_runs import JOB
from webapp import backtest_jobs as jobs

OTHER_HOST = "regimedesk-worker-b"
STALE_S = 6.0  # the threshold this test judges with (the page's default is run_jobs.STALE_S)
BEAT = re.compile(r" beat (\S+)$")


def _other_machine_ok() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-u", "sh", "-c", f"hostname {OTHER_HOST} && hostname"], capture_output=True,
                           text=True, timeout=30)
    return probe.returncode == 0 and probe.stdout.strip() == OTHER_HOST


def _last_beat(message: str | None) -> datetime:
    """The heartbeat time in a running run's mark, read independently of the code under test."""
    found = BEAT.search(message or "")
    assert found is not None, f"no heartbeat in the run's mark: {message!r}"
    return datetime.fromisoformat(found.group(1))


@pytest.mark.slow  # a real worker process, killed, then a few seconds of silence
def test_a_run_whose_worker_on_another_machine_died_ends_failed(any_db_url: str, tmp_path: Path) -> None:
    if not _other_machine_ok():
        pytest.skip("needs `unshare -u` (root) to give the worker another host name")
    folder = backtest_data.csv_dir(tmp_path / "csv", bars=3000)  # minutes of backtest: it is still running when killed
    settings = load_settings(database_url=any_db_url, csv_dir=str(folder))
    form: dict[str, object] = {"source": "csv", "csv_dir": next(iter(jobs.csv_choices(settings))), "start": "",
                               "end": "", "cash": "100000", "version": "active", "preset": "default", "name": ""}
    store = open_store(any_db_url, migrate=True)
    root = Path(__file__).resolve().parents[2]
    try:
        built = jobs.build_spec(form, None, store, settings)
        run_id = runs.create_run(store, built.spec, author="web:alice", data_source=built.data_source,
                                 param_version_id=built.version_id)
        command = f"hostname {OTHER_HOST} && exec \"$0\" -c \"$1\" \"$2\" \"$3\" \"$4\""
        child = subprocess.Popen(["unshare", "-u", "sh", "-c", command, sys.executable, JOB, any_db_url, str(folder),
                                  str(run_id)], cwd=root)
        try:
            deadline = time.monotonic() + 300
            while runs.get_run(store, run_id).progress <= 0 and child.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
            assert child.poll() is None and runs.get_run(store, run_id).progress > 0, "the job did not get going"
            mark = runs.get_run(store, run_id).message or ""
            assert mark.startswith(f"job {OTHER_HOST}:{child.pid} beat "), mark  # the worker's machine and process
            first = _last_beat(mark)
            time.sleep(STALE_S + 2)  # longer than the threshold: a live worker keeps beating, so it is not ended
            assert run_jobs.end_dead_jobs(store, stale_after_s=STALE_S) == []
            alive = runs.get_run(store, run_id)
            assert alive.status == "running" and _last_beat(alive.message) > first, (alive.status, alive.message)
        finally:
            child.send_signal(signal.SIGKILL)  # the worker's machine is lost
            child.wait(timeout=60)
        last = _last_beat(runs.get_run(store, run_id).message)
        assert run_jobs.end_dead_jobs(store, stale_after_s=STALE_S) == []  # not yet: its last beat is recent
        assert runs.get_run(store, run_id).status == "running"
        time.sleep(STALE_S + 1)
        assert run_jobs.end_dead_jobs(store, stale_after_s=STALE_S) == [run_id]
        ended = runs.get_run(store, run_id)
        assert ended.status == "failed"
        assert ended.message is not None
        assert f"worker stopped: no heartbeat since {last:%H:%M:%S} UTC" in ended.message, ended.message
        assert f"process {child.pid} on {OTHER_HOST}" in ended.message and ended.message.endswith("start it again")
        assert run_jobs.end_dead_jobs(store, stale_after_s=STALE_S) == []  # ended once; stays failed
    finally:
        store.dispose()
