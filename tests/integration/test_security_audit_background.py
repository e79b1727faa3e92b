"""Background callbacks without Redis are bounded (audit 5, defect 1): one viewer could start any number of
what-if children (30 forged requests: 30 live processes, load 19, a HALT 4.3 s instead of 0.3 s).

Now at most BACKGROUND_SLOTS children run at once, one per login session and callback; a request past either
bound gets the page's alert saying why. Children run niced, with default signal handlers, and exit when their web
process is gone. The app is served over real HTTP on 127.0.0.1 (threaded, as gunicorn's gthread worker), the
children are real processes of this test process, the store a real SQLite (the cap test on PostgreSQL too)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests

from tests.integration.test_ops_audit_background_redis import whatif_request
from tests.integration.test_ops_audit_redis_kill import login, served
from tests.web_requests import CALLBACK_URL

ROOT = Path(__file__).resolve().parents[2]
WHATIF_OUTPUT = "..regime-whatif-result.children...regime-whatif-timeline.figure...regime-whatif-timeline.style.."
BUSY = "background jobs are running (the most this server runs at once)"
OWN = "Your earlier run of this is still running"
RAN = "no index instrument stored yet"  # the what-if ran: an empty store has no history to replay


def sleep_job(seconds: float) -> None:
    """A background job that holds its slot (a real child process) for `seconds`."""
    time.sleep(seconds)


def live_children() -> list[psutil.Process]:
    out = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                out.append(child)
        except psutil.Error:
            pass
    return out


@pytest.fixture
def web_app(test_settings: Any, any_db_url: str) -> Iterator[Any]:
    from app import create_app
    from engine.store.migrate import open_store

    open_store(any_db_url, migrate=True).dispose()
    app = create_app(test_settings(database_url=any_db_url, engine_mode="none",
                                   secret_key="security-audit-" + "k" * 40), start_engine=False)
    yield app


def manager_of(app: Any) -> Any:
    return app._background_manager


def start_sleeper(app: Any, output: str, seconds: float = 60, cookie: str | None = None) -> int:
    """A long job started through the app's own manager, as a callback request for `output` would start it
    (`cookie`: the login session asking)."""
    manager = manager_of(app)
    headers = {"Cookie": f"regimedesk_session={cookie}"} if cookie else {}
    with app.server.test_request_context(CALLBACK_URL, method="POST", json={"output": output}, headers=headers):
        job = manager.call_job_fn(f"sleeper-{output}-{time.monotonic()}", manager.make_job_fn(sleep_job, False),
                                  [seconds], {})
    assert str(job).isdigit(), job  # started: a pid
    return int(job)


def whatif(session: requests.Session, base: str, clicks: int, deadline_s: float = 60) -> str:
    """Click Run (n_clicks=`clicks`, so each click is its own job) and poll until the job ends: the text the page
    shows (the result, or the alert)."""
    body, params = whatif_request(session, base)
    body["inputs"][0]["value"] = clicks
    first = session.post(base + CALLBACK_URL, params=params, json=body, timeout=60)
    assert first.status_code == 200, first.text[:300]
    handles = first.json()
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        poll = session.post(base + CALLBACK_URL, json=body, timeout=60,
                            params={**params, "cacheKey": handles["cacheKey"], "job": handles["job"]})
        assert poll.status_code in (200, 204), (poll.status_code, poll.text[:300])
        if poll.status_code == 200:
            answer = poll.json()
            if "response" in answer or "sideUpdate" in answer:
                return str(answer)
        time.sleep(0.15)
    raise AssertionError("the what-if never ended")


def fire(calls: list[tuple[requests.Session, int]], base: str) -> list[str]:
    answers: list[str] = []
    errors: list[BaseException] = []

    def one(session: requests.Session, clicks: int) -> None:
        try:
            answers.append(whatif(session, base, clicks))
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=call, daemon=True) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert len(answers) == len(calls)
    return answers


def stop(app: Any, pids: list[int]) -> None:
    for pid in pids:
        manager_of(app).terminate_job(pid)


def test_whatifs_past_the_cap_get_the_message_and_start_nothing(web_app: Any) -> None:
    sleepers = [start_sleeper(web_app, f"other-job-{i}.children") for i in range(2)]
    try:
        with served(web_app) as base:
            first, second = login(base, web_app), login(base, web_app)
            before = {p.pid for p in live_children()}
            answers = fire([(first, 1000 + i) for i in range(4)] + [(second, 2000 + i) for i in range(4)], base)
            assert all(BUSY in a and "2 background jobs are running" in a for a in answers), answers
            assert {p.pid for p in live_children()} == before  # nothing else was started
            stop(web_app, sleepers)
            assert RAN in whatif(first, base, 3000)  # a slot is free: the what-if runs again
    finally:
        stop(web_app, sleepers)


@pytest.mark.parametrize("any_db_url", ["sqlite"], indirect=True)
def test_one_whatif_per_session_at_a_time(web_app: Any) -> None:
    with served(web_app) as base:
        mine, other = login(base, web_app), login(base, web_app)
        running = start_sleeper(web_app, WHATIF_OUTPUT, cookie=mine.cookies.get("regimedesk_session"))
        try:
            answers = fire([(mine, 1000 + i) for i in range(5)], base)
            assert all(OWN in a for a in answers), answers
            assert RAN in whatif(other, base, 2000)  # another session's what-if runs (one slot was free)
        finally:
            stop(web_app, [running])
        assert RAN in whatif(mine, base, 3000)


@pytest.mark.parametrize("any_db_url", ["sqlite"], indirect=True)
def test_a_flood_of_forged_whatifs_runs_at_most_two_children(web_app: Any) -> None:
    """30 what-if requests at once from 3 sessions of one viewer: never more than 2 children alive.

    Only children started during the flood count: under xdist this process may still have a child from an earlier
    test (a fixture's server), which a fresh CI run counted as a third."""
    peak = 0
    done = threading.Event()
    before = {p.pid for p in live_children()}

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, sum(1 for p in live_children() if p.pid not in before))
            time.sleep(0.002)

    with served(web_app) as base:
        sessions = [login(base, web_app) for _ in range(3)]
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.monotonic()
        try:
            answers = fire([(sessions[i % 3], 1000 + i) for i in range(30)], base)
        finally:
            done.set()
            sampler.join(10)
    assert time.monotonic() - started < 90
    assert peak <= 2, peak  # 30 before
    assert all(RAN in a or BUSY in a or OWN in a for a in answers), answers
    assert sum(1 for a in answers if BUSY in a or OWN in a) >= 1, answers


@pytest.mark.parametrize("any_db_url", ["sqlite"], indirect=True)
def test_children_are_niced_and_die_on_sigterm_under_a_gunicorn_like_handler(web_app: Any) -> None:
    """gunicorn's worker handles SIGTERM by clearing a flag; a child forked from it used to keep that handler."""
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        pid = start_sleeper(web_app, "niced.children")
    finally:
        signal.signal(signal.SIGTERM, previous)
    child = psutil.Process(pid)
    try:
        deadline = time.monotonic() + 10  # the child sets its signals, then its priority, as it starts
        while child.nice() < os.nice(0) + 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert child.nice() >= os.nice(0) + 10
        os.kill(pid, signal.SIGTERM)
        child.wait(5)  # psutil.TimeoutExpired before: the child ignored SIGTERM
    finally:
        manager_of(web_app).terminate_job(pid)


def test_a_child_exits_when_its_web_process_is_gone(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import os, sys, time, diskcache
        sys.path.insert(0, {str(ROOT)!r})
        from webapp.background import BoundedDiskcacheManager
        from tests.integration.test_security_audit_background import sleep_job
        manager = BoundedDiskcacheManager(diskcache.Cache({str(tmp_path / 'cache')!r}))
        pid = manager.call_job_fn("k", manager.make_job_fn(sleep_job, False), [60], {{}})
        print(pid, flush=True)
        os._exit(0)  # the web process dies without stopping its child
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    child = psutil.Process(int(out.stdout.split()[-1]))
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and child.is_running() and child.status() != psutil.STATUS_ZOMBIE:
            time.sleep(0.1)
        assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE, "the orphaned child kept running"
    finally:
        if child.is_running():
            child.kill()
