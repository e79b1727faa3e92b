"""The Backtest page waited for ever on a run whose job never answered: with Celery, a worker killed mid-run leaves
its task "started" and Dash polls it for ever (Run disabled, the progress showing) although the store says the run
failed; and a run no worker took stayed "running" with no mark and no word. The page now watches the run it
started (webapp/backtest_watch.py): it says a queued run waits for a background worker, shows the stored end of a
run whose job died (once), re-enables Run and hides the progress; end_dead_jobs ends a run no job claimed within the
bound. Over the page's callback requests, with a real worker process that claims the run and is killed (SIGKILL).
"""
from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from engine.backtest import run_jobs, runs
from engine.backtest.inputs import BacktestError
from engine.runtime import build_context
from engine.settings import load_settings
from tests import web_requests as wr
from tests.auth_helpers import login_client
from tests.integration import backtest_data
from webapp import backtest_jobs as jobs

WORKER = """
import sys
from engine.backtest import run_jobs
from engine.store.migrate import open_store
store = open_store(sys.argv[1])
run_jobs.claim(store, int(sys.argv[2]))  # what a job does first: this process runs the run now
store.dispose()
print("claimed", flush=True)
sys.stdin.readline()  # a worker busy with the run, until it is killed
"""
QUEUED = re.compile(r"^queued (\S+)$")
SHORT_S = 3.0  # the bound the unclaimed-run test ends with (the page's is run_jobs.NO_WORKER_S, 10 minutes)


@pytest.fixture()
def page(any_db_url: str, tmp_path: Path) -> Iterator[tuple[Any, Any, Any]]:
    from app import create_app

    folder = backtest_data.csv_dir(tmp_path / "csv")
    settings = load_settings(database_url=any_db_url, engine_mode="none", csv_dir=str(folder))
    ctx = build_context(settings, with_source=False, migrate=True)
    application = create_app(settings, context=ctx)
    trader = login_client(application, "trader", "tess")
    yield trader, ctx, settings
    ctx.store.dispose()


def _form(settings: Any) -> dict[str, Any]:
    return {"source": "csv", "csv_dir": next(iter(jobs.csv_choices(settings))), "start": "", "end": "",
            "cash": "100000", "version": "active", "preset": "default", "name": ""}


def _record(ctx: Any, settings: Any) -> tuple[int, dict[str, Any]]:
    """A run recorded as the Run click records it (the page's start callback needs a browser form: same calls)."""
    built = jobs.build_spec(_form(settings), None, ctx.store, settings)
    run_id = runs.create_run(ctx.store, built.spec, author="web:tess", data_source=built.data_source,
                             param_version_id=built.version_id)
    return run_id, {"run_id": run_id, **jobs.pin(built)}


class Watch:
    """The page's watch, driven as the browser drives it: the job data starts it, the interval asks."""

    def __init__(self, client: Any) -> None:
        deps = wr.dependencies(client)
        self.client = client
        self.note_dep = wr.find(deps, "backtest-watch.data", "backtest-job")
        self.check_dep = wr.find(deps, "backtest-status.children", "backtest-watch-poll")

    def start(self, job: dict[str, Any]) -> Any:
        reply = wr.call(self.client, self.note_dep, {"backtest-job.data": job}, trigger="backtest-job.data")
        assert reply.status_code == 200, reply.get_data(as_text=True)[:300]
        out = json.loads(reply.get_data(as_text=True))["response"]
        assert out["backtest-watch-poll"]["disabled"] is False  # the interval is on while the run is in progress
        return out["backtest-watch"]["data"]

    def check(self, watch: Any, changed: Any = None) -> tuple[int, dict[str, Any]]:
        reply = wr.call(self.client, self.check_dep, {"backtest-watch-poll.n_intervals": 1,
                                                      "backtest-runs-changed.data": changed or {},
                                                      "backtest-watch.data": watch},
                        trigger="backtest-watch-poll.n_intervals")
        assert reply.status_code in (200, 204), reply.get_data(as_text=True)[:300]
        body = reply.get_data(as_text=True)
        return reply.status_code, (json.loads(body)["response"] if reply.status_code == 200 else {})


def _text(out: dict[str, Any]) -> str:
    return json.dumps(out["backtest-status"]["children"])


def _queued_at(ctx: Any, run_id: int) -> datetime:
    found = QUEUED.match(runs.get_run(ctx.store, run_id).message or "")
    assert found is not None, runs.get_run(ctx.store, run_id).message
    return datetime.fromisoformat(found.group(1))


def _assert_stopped(out: dict[str, Any]) -> None:
    assert out["backtest-run"]["disabled"] is False  # Run can be clicked again
    assert out["backtest-cancel"]["disabled"] is True
    assert out["backtest-progress-wrap"]["style"] == {"display": "none"}
    assert out["backtest-watch"]["data"] is None and out["backtest-watch-poll"]["disabled"] is True  # it stops


def test_a_run_whose_worker_was_killed_ends_on_the_page_once(page: Any) -> None:
    client, ctx, settings = page
    run_id, job = _record(ctx, settings)
    watch = Watch(client)
    state = watch.start(job)
    assert state == {"run_id": run_id}

    code, out = watch.check(state)  # no worker has taken it yet
    assert code == 200
    queued = _queued_at(ctx, run_id)
    assert f"run #{run_id} is waiting for a background worker (queued at {queued:%H:%M:%S} UTC)" in _text(out)
    assert "within 10 minutes it ends as failed" in _text(out), _text(out)
    state = out["backtest-watch"]["data"]
    assert "backtest-run" not in out  # nothing else changes while it waits
    assert watch.check(state)[0] == 204  # said once while it waits

    root = Path(__file__).resolve().parents[2]
    worker = subprocess.Popen([sys.executable, "-c", WORKER, ctx.settings.database_url, str(run_id)], cwd=root,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert worker.stdout is not None and worker.stdout.readline().strip() == "claimed"
        assert (runs.get_run(ctx.store, run_id).message or "").startswith(f"job {socket.gethostname()}:{worker.pid} ")
        code, out = watch.check(state)  # a worker took it
        assert code == 200 and f"run #{run_id} started" in _text(out), out
        state = out["backtest-watch"]["data"]
        assert watch.check(state)[0] == 204  # alive and beaten just now: nothing to say
        assert runs.get_run(ctx.store, run_id).status == "running"
    finally:
        worker.send_signal(signal.SIGKILL)  # the worker dies mid-run: no answer will ever come
        worker.wait(timeout=30)
        worker.stdout.close() if worker.stdout else None
        worker.stdin.close() if worker.stdin else None

    code, out = watch.check(state)
    assert code == 200
    stored = runs.get_run(ctx.store, run_id)
    assert stored.status == "failed"  # stored, not only shown
    text = _text(out)
    assert f"run #{run_id} failed: its job stopped without finishing (process {worker.pid} on " \
           f"{socket.gethostname()} is gone" in text, text
    assert "start it again" in text
    _assert_stopped(out)
    code, again = watch.check(out["backtest-watch"]["data"])  # the watch as it is now: off, says nothing more
    assert "backtest-status" not in again and "backtest-run" not in again


def test_a_run_no_worker_takes_waits_then_ends_failed(page: Any) -> None:
    client, ctx, settings = page
    run_id, job = _record(ctx, settings)
    queued = _queued_at(ctx, run_id)
    assert run_jobs.NO_WORKER_S == 600.0  # the page's bound: 10 minutes
    assert run_jobs.end_dead_jobs(ctx.store) == []  # within the page's bound
    assert run_jobs.end_dead_jobs(ctx.store, unclaimed_after_s=SHORT_S) == []  # within the short one, too
    watch = Watch(client)
    code, out = watch.check(watch.start(job))
    assert code == 200 and f"run #{run_id} is waiting for a background worker" in _text(out), out
    assert runs.get_run(ctx.store, run_id).status == "running"
    opened = wr.call(client, wr.find(wr.dependencies(client), "backtest-run-info.children", "backtest-run-a"),
                     {"backtest-run-a.value": run_id}, trigger="backtest-run-a.value")
    info = json.dumps(json.loads(opened.get_data(as_text=True))["response"]["backtest-run-info"]["children"])
    assert f"run #{run_id} is running: waiting for a background worker" in info, info  # opened, it says so too

    time.sleep(SHORT_S + 1)
    assert run_jobs.end_dead_jobs(ctx.store, unclaimed_after_s=SHORT_S) == [run_id]
    stored = runs.get_run(ctx.store, run_id)
    expected = (f"no background worker took it within 3 s (queued at {queued:%H:%M:%S} UTC); nothing ran; "
                "start it again")
    assert (stored.status, stored.message, stored.bars) == ("failed", expected, 0)
    assert run_jobs.end_dead_jobs(ctx.store, unclaimed_after_s=SHORT_S) == []  # ended once

    code, out = watch.check(out["backtest-watch"]["data"])  # the page says it at once, and lets Run be clicked
    assert code == 200 and _text(out).count(expected) == 1, _text(out)
    _assert_stopped(out)

    # a worker that takes the job after all runs nothing: the run stays failed with its reason
    with pytest.raises(BacktestError, match=f"backtest run {run_id} is failed"):
        jobs.run_pinned(run_id, job, _form(settings), None, ctx.store, settings, None, lambda _f, _t: None)
    assert (runs.get_run(ctx.store, run_id).status, runs.get_run(ctx.store, run_id).message) == ("failed", expected)


def test_the_jobs_own_answer_wins(page: Any) -> None:
    """A run its job ended itself: the job's answer (outcome, notes) is what the page shows; the watch stops
    without a word when it arrives, and says the stored end only when it never comes."""
    client, ctx, settings = page
    watch = Watch(client)
    run_id, job = _record(ctx, settings)
    state = watch.start(job)
    outcome = jobs.run_pinned(run_id, job, _form(settings), None, ctx.store, settings, None, lambda _f, _t: None)
    assert outcome.startswith(f"run #{run_id}: ") and runs.get_run(ctx.store, run_id).status == "done"
    code, out = watch.check(state, changed={"run": run_id, "open": run_id})  # the job's answer arrived
    assert code == 200 and "backtest-status" not in out and "backtest-run" not in out, out
    assert out["backtest-watch"]["data"] is None and out["backtest-watch-poll"]["disabled"] is True

    run_id, job = _record(ctx, settings)
    state = watch.start(job)
    runs.fail_run(ctx.store, run_id, "the upload arrived damaged; try again")  # as the job stores its refusal
    code, out = watch.check(state)  # the job's answer is due: one poll's grace
    assert code == 200 and "backtest-status" not in out and "backtest-run" not in out, out
    code, out = watch.check(out["backtest-watch"]["data"])  # it never came: the stored end, once
    assert code == 200
    assert f"run #{run_id} failed: the upload arrived damaged; try again" in _text(out), _text(out)
    _assert_stopped(out)
