"""Several web processes on PostgreSQL + Redis, as deployed: `gunicorn app:server` (engine_mode=none),
`python -m engine`, and `celery -A webapp.celery_worker worker`, all real processes on 127.0.0.1.

- A login made through one gunicorn process is valid in the other (one shared secret key).
- A kill switch pressed through process A is on process B's banner at its next refresh, although the
  query cache's TTL is 30 s here: only the explicit invalidation in Redis can explain it. A user preset
  saved through A is in the Planner's preset picker through B.
- The Regime page's what-if (a background callback) started through A is polled to its result through B
  (the job runs in the Celery worker; its progress and result live in Redis).
- A parameter version applied through A is on B's Parameters page at its next poll; a what-if started
  through A and cancelled through B leaves no task in the Celery worker, and the next what-if completes.
- `gunicorn app:server -w 2` without REGIMEDESK_SECRET_KEY refuses to start, in one line naming it.
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

import pytest
import requests

from engine.params.versions import active_params
from engine.planner.api import SLIDERS
from engine.store.db import Store
from tests.auth_helpers import PASSWORDS, csrf_from
from tests.waiting import wait_for
from tests.web_requests import CALLBACK_URL, build_body, find, position

ROOT = Path(__file__).resolve().parents[2]
REDIS_DB = 12  # this test's own Redis database, flushed before and after
# Every test here flushes Redis database 12 and starts its own Celery worker on it: run them in one xdist worker,
# one after another (--dist loadgroup), or one test's flush and worker would take the other's tasks.
pytestmark = pytest.mark.xdist_group("redis-db-12")
REDIS_URL = f"redis://127.0.0.1:6379/{REDIS_DB}"
CONFIG = re.compile(r'<script id="_dash-config" type="application/json">(.*?)</script>', re.S)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _redis_or_skip(url: str = REDIS_URL) -> Any:
    """A client of the Redis database at `url` (skip, or fail where Redis is required, if it does not answer)."""
    import redis

    from tests.conftest import skip_or_fail

    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        skip_or_fail(f"Redis is not reachable at {url}: {exc}")
    return client


def _prepare_store(env: dict[str, str], users: dict[str, str]) -> None:
    """`python -m engine migrate` on the deployment's store, then `engine users add` for each {name: role}, with
    the role's test password."""
    subprocess.run([sys.executable, "-m", "engine", "migrate"], cwd=ROOT, env=env, check=True, timeout=120,
                   capture_output=True)
    for name, role in users.items():
        subprocess.run([sys.executable, "-m", "engine", "users", "add", name, "--role", role, "--password-stdin"],
                       cwd=ROOT, env=env, input=PASSWORDS[role] + "\n", text=True, check=True, timeout=60,
                       capture_output=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{url} exited {proc.returncode}: {log.read_text()[-3000:]}")
        try:
            if requests.get(url + "/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} not up in {timeout} s: {log.read_text()[-3000:]}")


class Web:
    """One logged-in browser-like client of one web process."""

    def __init__(self, url: str, session: requests.Session) -> None:
        self.url = url
        self.http = session
        self.end_id = ""

    def open_page(self, path: str = "/") -> None:
        page = self.http.get(self.url + path, timeout=30)
        assert page.status_code == 200, page.status_code
        self.end_id = json.loads(CONFIG.search(page.text).group(1)).get("end_id", "")

    def post(self, dep: dict, values: dict[str, Any] | None = None, trigger: str | None = None,
             query: dict[str, str] | None = None, body: dict | None = None) -> requests.Response:
        if body is None:
            by_position = {position(dep, *k.rsplit(".", 1)): v for k, v in (values or {}).items()}
            changed = 0
            if trigger is not None:
                changed = next(i for i, s in enumerate(dep["inputs"]) if f"{s['id']}.{s['property']}" == trigger)
            body = build_body(dep, by_position, changed)
        params = {"endId": self.end_id} if self.end_id else {}
        params.update(query or {})
        return self.http.post(self.url + CALLBACK_URL, params=params, json=body, timeout=60)


def login(url: str, name: str, password: str) -> requests.Session:
    session = requests.Session()
    token = csrf_from(session.get(url + "/login", timeout=30).text)
    done = session.post(url + "/login", data={"username": name, "password": password, "csrf_token": token},
                        allow_redirects=False, timeout=30)
    assert done.status_code == 302, done.text[:300]
    session.headers["X-CSRFToken"] = session.cookies["_csrf_token"]
    return session


@pytest.fixture
def stack(pg_url: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Engine + Celery worker + two gunicorn processes (one worker each) on one database and one Redis db."""
    redis_client = _redis_or_skip()
    redis_client.flushdb()
    env = {**os.environ, "REGIMEDESK_DATABASE_URL": pg_url, "REGIMEDESK_CACHE_URL": REDIS_URL,
           "REGIMEDESK_SECRET_KEY": secrets.token_urlsafe(48), "REGIMEDESK_ENGINE_MODE": "none",
           "REGIMEDESK_CACHE_TTL_SECONDS": "30", "REGIMEDESK_TICK_SECONDS": "0.5", "REGIMEDESK_WARMUP_POLLS": "400",
           "REGIMEDESK_AUTOTRADE": "false", "REGIMEDESK_DEADMAN_SECONDS": "0", "PYTHONUNBUFFERED": "1"}
    _prepare_store(env, {role: role for role in ("viewer", "trader", "admin")})
    procs: list[subprocess.Popen] = []
    logs: dict[str, Path] = {}

    def start(name: str, argv: list[str]) -> subprocess.Popen:
        logs[name] = tmp_path / f"{name}.log"
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=logs[name].open("w"), stderr=subprocess.STDOUT)
        procs.append(proc)
        return proc

    try:
        start("engine", [sys.executable, "-m", "engine"])
        start("celery", [sys.executable, "-m", "celery", "-A", "webapp.celery_worker", "worker", "-Q",
                         "regimedesk-background", "--concurrency", "1", "--loglevel", "INFO"])
        urls = []
        for name in ("web-a", "web-b"):
            port = _free_port()
            proc = start(name, [sys.executable, "-m", "gunicorn", "app:server", "-w", "1", "-b", f"127.0.0.1:{port}"])
            urls.append(f"http://127.0.0.1:{port}")
            _wait_http(urls[-1], proc, logs[name])
        yield {"a": urls[0], "b": urls[1], "env": env, "logs": logs, "procs": procs, "redis": redis_client}
    finally:
        for proc in reversed(procs):
            _stop(proc)
        redis_client.flushdb()


def _deps(web: Web) -> list[dict]:
    response = web.http.get(web.url + "/_dash-dependencies", timeout=30)
    assert response.status_code == 200
    return list(response.json())


def _banner_state(web: Web, dep: dict) -> str:
    response = web.post(dep, {"banner-interval.n_intervals": 1})
    assert response.status_code == 200, response.text[:300]
    return json.dumps(response.json()["response"]["banner-state"]["children"])


def _wait_engine_state(web: Web, dep: dict, state: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if f"Trading {state}" in _banner_state(web, dep):
            return
        time.sleep(0.5)
    raise AssertionError(f"trading state never {state}")


def test_web001_login_cache_invalidation_and_preset_across_processes(stack: dict[str, Any]) -> None:
    viewer = login(stack["a"], "viewer", PASSWORDS["viewer"])
    a, b = Web(stack["a"], viewer), Web(stack["b"], viewer)  # the same session cookie on both processes
    a.open_page()
    b.open_page()  # 200 through B: the session A signed is valid in B
    deps = _deps(a)
    banner = find(deps, "banner-state.children", "banner-interval")
    _wait_engine_state(b, banner, "ACTIVE")  # the engine initialised the state (30 s TTL: read until then)
    # B has ACTIVE cached for 30 s now; the kill switch goes through A
    assert "Trading ACTIVE" in _banner_state(b, banner)
    kill = find(deps, "banner-kill-result.children", "banner-kill-confirm")
    pressed = a.post(kill, {"banner-kill-confirm.n_clicks": 1, "banner-kill-flatten.value": False})
    assert pressed.status_code == 200, pressed.text[:500]
    t_done = time.monotonic()
    assert "Trading HALTED" in json.dumps(pressed.json()["response"]), pressed.text[:500]
    seen = _banner_state(b, banner)  # B's next refresh
    assert "Trading HALTED" in seen, seen
    assert time.monotonic() - t_done < 5.0  # well inside the 30 s TTL: the invalidation, not an expiry

    # a user preset saved through A is in the Planner's preset picker through B
    trader = login(stack["a"], "trader", PASSWORDS["trader"])
    ta, tb = Web(stack["a"], trader), Web(stack["b"], trader)
    ta.open_page("/planner")
    tb.open_page("/planner")
    save = find(deps, "planner-save-message.children", "planner-save")
    body = build_body(save, {}, 0)
    body["inputs"][0]["value"] = 1  # planner-save.n_clicks
    for entry in body["state"]:
        if isinstance(entry, dict) and entry["id"] == "planner-save-name":
            entry["value"] = "web-workers-test"
        elif isinstance(entry, dict) and entry["id"] == "planner-preset":
            entry["value"] = "default"
    slider_at = next(i for i, e in enumerate(body["state"]) if isinstance(e, list) and e
                     and e[0]["id"].get("type") == "planner-slider")
    body["state"][slider_at] = [{"id": {"type": "planner-slider", "name": s.name}, "property": "value", "value": 0.25}
                                for s in SLIDERS]
    for i, entry in enumerate(body["state"]):  # no module switches changed
        if isinstance(entry, list) and entry and entry[0]["id"].get("type") == "planner-switch":
            body["state"][i] = []
    saved = ta.post(save, body=body)
    assert saved.status_code == 200 and "Saved 'web-workers-test' version 1" in saved.text, saved.text[:500]
    page = find(deps, "_pages_content.children")
    names = {f"{s['id']}.{s['property']}" for s in page["inputs"] + page["state"]}
    values_by_name: dict[str, Any] = dict.fromkeys(names)
    values_by_name["_pages_location.pathname"] = "/planner"
    values_by_name["_pages_location.search"] = ""
    rendered = tb.post(page, values_by_name)
    assert rendered.status_code == 200, rendered.text[:300]
    assert "web-workers-test (user)" in rendered.text, rendered.text[:1000]


def test_web002_background_callback_started_on_one_worker_polled_on_another(stack: dict[str, Any]) -> None:
    viewer = login(stack["a"], "viewer", PASSWORDS["viewer"])
    a, b = Web(stack["a"], viewer), Web(stack["b"], viewer)
    a.open_page("/regime")
    b.end_id = a.end_id  # the same browser page polls: its signed page id goes along
    deps = _deps(a)
    whatif = find(deps, "regime-whatif-result.children", "regime-whatif-run")
    body = build_body(whatif, {}, 0)
    body["inputs"][0]["value"] = 1
    for entry in body["state"]:  # a pattern-matching state (the knob boxes: ALL) is a list of entries
        if isinstance(entry, dict) and entry["id"] == "regime-whatif-window":
            entry["value"] = "390"
    started = a.post(whatif, body=body)
    assert started.status_code == 200, started.text[:500]
    handles = started.json()
    assert "cacheKey" in handles and "job" in handles, handles
    poll = json.loads(json.dumps(body))
    for entry in _flat(poll["inputs"] + poll["state"]):
        entry["value"] = None
    deadline = time.monotonic() + 120
    result = None
    polls = 0
    while time.monotonic() < deadline:
        polls += 1
        response = b.post(whatif, body=poll, query={"cacheKey": handles["cacheKey"], "job": handles["job"]})
        assert response.status_code in (200, 204), response.text[:500]
        if response.status_code == 200 and "response" in response.json():
            result = response.json()["response"]
            break
        time.sleep(0.3)
    assert result is not None, f"no result after {polls} polls: {stack['logs']['celery'].read_text()[-3000:]}"
    text = json.dumps(result["regime-whatif-result"]["children"])
    assert "regime-whatif-agreement" in text and "No pending edits" in text, text[:1000]  # the replay's summary
    celery_log = stack["logs"]["celery"].read_text()
    assert "background_callback_" in celery_log and "succeeded" in celery_log, celery_log[-2000:]


def test_web003_several_workers_without_a_shared_secret_refused(pg_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "REGIMEDESK_SECRET_KEY"}
    env.update({"REGIMEDESK_DATABASE_URL": pg_url, "REGIMEDESK_ENGINE_MODE": "none"})
    port = _free_port()
    done = subprocess.run([sys.executable, "-m", "gunicorn", "app:server", "-w", "2", "-b", f"127.0.0.1:{port}"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if "REGIMEDESK_SECRET_KEY" in line]
    assert len(lines) == 1 and lines[0].startswith("configuration error: REGIMEDESK_SECRET_KEY"), done.stderr[-2000:]
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)


def _page_poll(web: Web, dep: dict, base: dict[str, Any]) -> str:
    """The Parameters page's poll (check_stale) as the browser sends it, with the version the page shows."""
    response = web.post(dep, {"parameters-poll.n_intervals": 1, "parameters-base.data": base})
    assert response.status_code == 200, response.text[:300]
    return json.dumps(response.json()["response"]["parameters-stale"]["children"])


def test_web004_parameter_version_applied_through_one_process_is_seen_through_the_other(stack: dict[str, Any]) -> None:
    admin = login(stack["a"], "admin", PASSWORDS["admin"])
    a, b = Web(stack["a"], admin), Web(stack["b"], admin)
    a.open_page("/parameters")
    b.open_page("/parameters")
    deps = _deps(a)
    poll = find(deps, "parameters-stale.children", "parameters-poll")
    versions = find(deps, "parameters-active.children", "parameters-base")
    shown = b.post(versions, {"parameters-base.data": {}})
    assert shown.status_code == 200, shown.text[:300]
    before = re.findall(r"active version (\d+)", shown.text)  # none yet on a fresh store: the defaults run
    base = {"version_id": int(before[0]) if before else None}
    assert _page_poll(b, poll, base) == "null"  # B: the page shows the active version, nothing to tell

    apply = find(deps, "parameters-apply-modal.is_open", "parameters-apply-confirm")
    applied = a.post(apply, {"parameters-apply-confirm.n_clicks": 1, "parameters-base.data": base,
                             "parameters-edits.data": {"ATRIndicatorsConfig|main|atr_period": 20},
                             "parameters-apply-note.value": "across workers"},
                     trigger="parameters-apply-confirm.n_clicks")
    assert applied.status_code == 200, applied.text[:500]
    t_done = time.monotonic()
    version = re.findall(r"version (\d+) is now active", applied.text)
    assert version, applied.text[:1000]
    seen = _page_poll(b, poll, base)  # B's next poll: its page is behind, and says which version is active
    assert f"Version {version[0]} is now active" in seen, seen
    assert time.monotonic() - t_done < 5.0  # well inside the 30 s cache TTL
    listed = b.post(versions, {"parameters-base.data": {"version_id": int(version[0])}})
    assert f"active version {version[0]}" in listed.text and "across workers" in listed.text, listed.text[:1000]
    store = Store(stack["env"]["REGIMEDESK_DATABASE_URL"])
    try:
        with store.read() as s:
            assert active_params(s).sheet("ATRIndicatorsConfig").atr_period == 20
    finally:
        store.dispose()


def _celery_tasks(env: dict[str, str]) -> dict[str, list[Any]]:
    """Tasks the Celery worker runs or holds (active, reserved), asked over the broker like `celery inspect`."""
    from celery import Celery

    client = Celery("regimedesk-test", broker=env["REGIMEDESK_CACHE_URL"], backend=env["REGIMEDESK_CACHE_URL"])
    try:
        inspect = client.control.inspect(timeout=3.0)
        active, reserved = inspect.active(), inspect.reserved()
        assert active is not None and reserved is not None, "the Celery worker did not answer"
        return {"active": [t for tasks in active.values() for t in tasks],
                "reserved": [t for tasks in reserved.values() for t in tasks]}
    finally:
        client.close()


def _flat(entries: list) -> list[dict]:
    """A callback body's inputs/state, a pattern-matching one (a list of entries, e.g. the knob boxes) opened."""
    return [e for item in entries for e in (item if isinstance(item, list) else [item])]


def _whatif_body(whatif: dict, window: str) -> dict:
    body = build_body(whatif, {}, 0)
    body["inputs"][0]["value"] = 1
    for entry in body["state"]:  # a pattern-matching state (the knob boxes: ALL) is a list of entries
        if isinstance(entry, dict) and entry["id"] == "regime-whatif-window":
            entry["value"] = window
    return body


def _poll_until_result(web: Web, whatif: dict, poll: dict, handles: dict, timeout: float) -> dict | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = web.post(whatif, body=poll, query={"cacheKey": handles["cacheKey"], "job": handles["job"]})
        assert response.status_code in (200, 204), response.text[:500]
        if response.status_code == 200 and "response" in response.json():
            return dict(response.json()["response"])
        time.sleep(0.3)
    return None


def test_web005_whatif_cancelled_through_celery_leaves_no_task_and_the_next_one_completes(
        stack: dict[str, Any]) -> None:
    viewer = login(stack["a"], "viewer", PASSWORDS["viewer"])
    a, b = Web(stack["a"], viewer), Web(stack["b"], viewer)
    a.open_page("/regime")
    b.end_id = a.end_id  # one browser page: its signed page id goes with every request
    deps = _deps(a)
    whatif = find(deps, "regime-whatif-result.children", "regime-whatif-run")
    cancel = find(deps, "regime-whatif-cancel.id", "regime-whatif-cancel")
    assert _celery_tasks(stack["env"]) == {"active": [], "reserved": []}
    body = _whatif_body(whatif, "1560")  # the longest window: the replay runs a while
    started = a.post(whatif, body=body)
    assert started.status_code == 200, started.text[:500]
    handles = started.json()
    assert "cacheKey" in handles and "job" in handles, handles
    cancelled = b.post(cancel, {"regime-whatif-cancel.n_clicks": 1}, trigger="regime-whatif-cancel.n_clicks",
                       query={"cancelJob": handles["job"]})  # what the renderer sends on Cancel
    assert cancelled.status_code in (200, 204), cancelled.text[:500]
    poll = json.loads(json.dumps(body))
    for entry in _flat(poll["inputs"] + poll["state"]):
        entry["value"] = None
    assert _poll_until_result(b, whatif, poll, handles, timeout=4.0) is None  # no result ever comes
    deadline = time.monotonic() + 20
    tasks = _celery_tasks(stack["env"])
    while (tasks["active"] or tasks["reserved"]) and time.monotonic() < deadline:
        time.sleep(0.5)
        tasks = _celery_tasks(stack["env"])
    assert tasks == {"active": [], "reserved": []}, tasks
    def revoke_logged() -> bool:  # the worker logs the revoke when its broadcast arrives: later on a busy machine
        log_text = stack["logs"]["celery"].read_text()
        return "Terminating" in log_text or "revoked" in log_text.lower()

    assert wait_for(revoke_logged, timeout_s=30.0), stack["logs"]["celery"].read_text()[-3000:]

    again = a.post(whatif, body=_whatif_body(whatif, "390"))  # the next what-if works
    assert again.status_code == 200, again.text[:500]
    result = _poll_until_result(b, whatif, poll, again.json(), timeout=120)
    assert result is not None, stack["logs"]["celery"].read_text()[-3000:]
    text = json.dumps(result["regime-whatif-result"]["children"])
    assert "regime-whatif-agreement" in text and "No pending edits" in text, text[:1000]

