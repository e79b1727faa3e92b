"""Under Celery, a backtest whose worker is killed (kill -9) left the Backtest page waiting for ever: the task stays
"started" in Redis, so Dash polls it with no answer (Run disabled, the progress showing) although the store ends
the run as failed; and before any worker ran, the run sat queued with no word. The page's watch
(webapp/backtest_watch.py) says the run waits for a background worker, then, once the worker is killed, shows the
stored failure once and lets Run be clicked again.

Real processes on 127.0.0.1: one `gunicorn app:server` and `celery -A webapp.celery_worker worker` started after the
run was queued; Redis database 11 (flushed before and after); the store on SQLite and PostgreSQL. Bounded waits.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from engine.backtest import runs
from engine.store.migrate import open_store
from tests.auth_helpers import PASSWORDS
from tests.integration import backtest_data
from tests.integration.test_web_workers import (
    Web,
    _deps,
    _free_port,
    _prepare_store,
    _redis_or_skip,
    _stop,
    _wait_http,
    login,
)
from tests.web_requests import find

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = "redis://127.0.0.1:6379/11"
QUEUE = "regimedesk-background"
MARK = re.compile(r"^job (?P<host>\S+):(?P<pid>\d+) beat ")
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("redis-db-11")]


@pytest.fixture
def deployment(any_db_url: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    client = _redis_or_skip(REDIS_URL)
    client.flushdb()
    folder = backtest_data.csv_dir(tmp_path / "market", bars=3000)  # minutes of backtest: still running when killed
    env = {**os.environ, "REGIMEDESK_DATABASE_URL": any_db_url, "REGIMEDESK_CACHE_URL": REDIS_URL,
           "REGIMEDESK_SECRET_KEY": secrets.token_urlsafe(48), "REGIMEDESK_ENGINE_MODE": "none",
           "REGIMEDESK_CSV_DIR": str(folder), "REGIMEDESK_AUTOTRADE": "false", "REGIMEDESK_DEADMAN_SECONDS": "0",
           "PYTHONUNBUFFERED": "1"}
    _prepare_store(env, {"tess": "trader"})
    procs: list[subprocess.Popen] = []
    logs: dict[str, Path] = {}

    def start(name: str, argv: list[str]) -> subprocess.Popen:
        logs[name] = tmp_path / f"{name}.log"
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=logs[name].open("w"), stderr=subprocess.STDOUT)
        procs.append(proc)
        return proc

    def start_worker() -> subprocess.Popen:
        return start("celery", [sys.executable, "-m", "celery", "-A", "webapp.celery_worker", "worker", "-Q", QUEUE,
                                "--concurrency", "1", "--loglevel", "INFO"])

    store = open_store(any_db_url)
    try:
        port = _free_port()
        web = start("web", [sys.executable, "-m", "gunicorn", "app:server", "-w", "1", "-b", f"127.0.0.1:{port}"])
        url = f"http://127.0.0.1:{port}"
        _wait_http(url, web, logs["web"])
        yield {"url": url, "logs": logs, "start_worker": start_worker, "store": store, "folder": folder}
    finally:
        for proc in reversed(procs):
            _stop(proc)
        store.dispose()
        client.flushdb()


def _status(out: dict[str, Any]) -> str:
    return json.dumps(out["backtest-status"]["children"])


def test_a_killed_celery_worker_ends_the_run_on_the_page(deployment: dict[str, Any]) -> None:
    store = deployment["store"]
    web = Web(deployment["url"], login(deployment["url"], "tess", PASSWORDS["trader"]))
    web.open_page("/backtest")
    deps = _deps(web)
    form = {"backtest-source.value": "csv", "backtest-csv-dir.value": f"CSV source ({deployment['folder'].name})",
            "backtest-start.value": "", "backtest-end.value": "", "backtest-cash.value": "100000",
            "backtest-version.value": "active", "backtest-preset.value": "default", "backtest-name.value": ""}
    clicked = web.post(find(deps, "backtest-job.data", "backtest-run"), {"backtest-run.n_clicks": 1, **form},
                       trigger="backtest-run.n_clicks")
    assert clicked.status_code == 200, clicked.text[:500]
    job = clicked.json()["response"]["backtest-job"]["data"]
    run_id = job["run_id"]
    noted = web.post(find(deps, "backtest-watch.data", "backtest-job"), {"backtest-job.data": job},
                     trigger="backtest-job.data")
    watch = noted.json()["response"]["backtest-watch"]["data"]
    run_job = find(deps, "backtest-runs-changed.data", "backtest-job")
    started = web.post(run_job, {"backtest-job.data": job, **form}, trigger="backtest-job.data")
    handles = started.json()
    assert started.status_code == 200 and "job" in handles, started.text[:500]
    check_dep = find(deps, "backtest-status.children", "backtest-watch-poll")

    def check(state: Any) -> dict[str, Any]:
        reply = web.post(check_dep, {"backtest-watch-poll.n_intervals": 1, "backtest-runs-changed.data": {},
                                     "backtest-watch.data": state}, trigger="backtest-watch-poll.n_intervals")
        assert reply.status_code in (200, 204), reply.text[:500]
        return dict(reply.json()["response"]) if reply.status_code == 200 else {}

    out = check(watch)  # no Celery worker yet: the task waits in the queue
    assert f"run #{run_id} is waiting for a background worker" in _status(out), out
    watch = out["backtest-watch"]["data"]

    deployment["start_worker"]()
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline and not (MARK.match(runs.get_run(store, run_id).message or "")
                                               and runs.get_run(store, run_id).progress > 0):
        time.sleep(0.2)
    mark = MARK.match(runs.get_run(store, run_id).message or "")
    assert mark is not None and mark["host"] == socket.gethostname(), (
        runs.get_run(store, run_id), deployment["logs"]["celery"].read_text()[-3000:])
    out = check(watch)
    assert f"run #{run_id} started" in _status(out), out  # a worker took it
    watch = out["backtest-watch"]["data"]
    child = psutil.Process(int(mark["pid"]))  # the pool process running the backtest
    parent = child.parent()
    assert parent is not None and "celery" in " ".join(parent.cmdline())
    for proc in (parent, child):  # the whole worker is killed: nobody tells Redis the task ended
        proc.send_signal(signal.SIGKILL)
    psutil.wait_procs([parent, child], timeout=30)

    poll = {"backtest-job.data": None, **dict.fromkeys(form)}
    silent = web.post(run_job, poll, trigger="backtest-job.data",
                      query={"cacheKey": handles["cacheKey"], "job": handles["job"]})
    assert "response" not in (silent.json() if silent.status_code == 200 else {})  # Dash alone would wait for ever

    out = check(watch)
    assert runs.get_run(store, run_id).status == "failed"
    text = _status(out)
    assert (f"run #{run_id} failed: its job stopped without finishing (process {child.pid} on "
            f"{socket.gethostname()} is gone") in text, text
    assert out["backtest-run"]["disabled"] is False and out["backtest-progress-wrap"]["style"] == {"display": "none"}
    assert out["backtest-watch"]["data"] is None and out["backtest-watch-poll"]["disabled"] is True
    assert "backtest-status" not in check(None)  # said once
