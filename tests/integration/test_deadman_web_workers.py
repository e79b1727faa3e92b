"""The dead-man's switch acts exactly once when several real web processes watch one store (issue 9).

Against a real `python -m engine` that is SIGKILLed (gunicorn: also SIGSTOPped), on SQLite and PostgreSQL:
- `gunicorn app:server -w 2` (web only, REGIMEDESK_ENGINE_MODE=none, one shared REGIMEDESK_SECRET_KEY):
  each worker process builds the app and runs its own watcher;
- two separate `python` processes, each running create_app with its watcher, which report on SIGTERM what
  their watcher did: one acted once, the other never.
Either way the store holds one `deadman.trigger` audit entry, one halt command (system:deadman, done), one
incident record, HALTED, and no open order at the broker.
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
from sqlalchemy import func, select

from engine.health import deadman
from engine.settings import PROJECT_ROOT
from engine.store.migrate import open_store
from engine.store.models import AuditEvent, CommandRow, KeyValue
from engine.trading import state as ts
from engine.trading.state import TradingState
from tests.browser.test_trd001_kill_switch_dialog import rest_orders
from tests.integration.test_deadman import start_engine, web_ctx
from tests.integration.test_engine_sigterm import wait_active
from tests.integration.test_kill_switch_engine_down import signal_outside_a_write

THRESHOLD_S = 4.0
WATCHER_SCRIPT = """
import json, signal, threading
from app import create_app
from engine.settings import load_settings
app = create_app(load_settings())
watcher = app.server.extensions["regimedesk_deadman"]
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
print("READY", json.dumps({"running": watcher.running}), flush=True)
stop.wait(180)
print("REPORT", json.dumps({"running": watcher.running, "actions": watcher.actions, "errors": watcher.errors}),
      flush=True)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _web_env(url: str, secret: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}  # one process's metrics each
    return {**env, "REGIMEDESK_DATABASE_URL": url, "REGIMEDESK_ENGINE_MODE": "none",
            "REGIMEDESK_SECRET_KEY": secret, "REGIMEDESK_DEADMAN_SECONDS": "5",  # the floor (settings); THRESHOLD_S stays 4 for read_view
            "REGIMEDESK_DEADMAN_ACTION": "halt", "REGIMEDESK_NOTIFY_URLS": "", "REGIMEDESK_CACHE_URL": ""}


def _wait(what: str, predicate, timeout_s: float, step_s: float = 0.1) -> float:  # type: ignore[no-untyped-def]
    t0 = time.monotonic()
    for _ in range(int(timeout_s / step_s) + 2):
        if predicate():
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout_s:
            break
        time.sleep(step_s)
    raise AssertionError(f"timed out after {timeout_s} s: {what}")


def _count(store, model, *where) -> int:  # type: ignore[no-untyped-def]
    with store.read() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _healthz(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def _kill_engine_and_await_one_action(store, engine: subprocess.Popen, ctx, url: str = "",  # type: ignore[no-untyped-def]
                                      how: str = "killed") -> tuple[dict, float]:
    """SIGKILL (or SIGSTOP) the engine; wait until the halt is done and a few more watcher rounds passed; check
    the store."""
    assert _count(store, AuditEvent, AuditEvent.action == "deadman.trigger") == 0, "tripped with the engine alive"
    signal_outside_a_write(engine, signal.SIGKILL if how == "killed" else signal.SIGSTOP, url)
    t_kill = time.monotonic()
    _wait("the dead-man's switch to trip", lambda: _count(store, AuditEvent, AuditEvent.action == "deadman.trigger") > 0,
          THRESHOLD_S + 15)
    detected = time.monotonic() - t_kill

    def incident_done() -> dict | None:
        with store.read() as s:
            rows = list(s.scalars(select(KeyValue).where(KeyValue.key.startswith(deadman.GUARD_PREFIX))))
        return rows[0].value if len(rows) == 1 and rows[0].value.get("result") else None

    _wait("the halt to finish", incident_done, 30)
    time.sleep(3.0)  # several more rounds of every watcher (each checks every 0.8 s at this threshold)
    with store.read() as s:
        snap = ts.current(s)
        halts = [(c.actor, c.status) for c in s.scalars(select(CommandRow).where(CommandRow.kind == "halt"))]
        incidents = list(s.scalars(select(KeyValue).where(KeyValue.key.startswith(deadman.GUARD_PREFIX))))
    with store.read() as s:
        triggers = [(a.ts.isoformat(), a.details) for a in s.scalars(select(AuditEvent).where(
            AuditEvent.action == "deadman.trigger"))]
    assert len(triggers) == 1, triggers
    assert halts == [(deadman.DEADMAN_ACTOR, "done")]
    assert len(incidents) == 1 and str(incidents[0].value["result"]).startswith("halt #")
    assert snap.state is TradingState.HALTED and snap.changed_by == deadman.DEADMAN_ACTOR
    assert ctx.broker.list_open_orders() == []
    return incidents[0].value, detected


def _start_live_engine(tmp_path: Path, url: str):  # type: ignore[no-untyped-def]
    store = open_store(url, migrate=True)
    engine = start_engine(url, tmp_path / "engine.log")
    wait_active(store, engine)
    ctx = web_ctx(url)
    rest_orders(ctx, 10, "deadman-web")
    return store, engine, ctx


@pytest.mark.slow
@pytest.mark.parametrize("how", ["killed", "stopped"])
def test_deadman_acts_once_with_gunicorn_two_workers(tmp_path: Path, any_db_url: str, how: str) -> None:
    store, engine, ctx = _start_live_engine(tmp_path, any_db_url)
    port = _free_port()
    log = (tmp_path / "gunicorn.log").open("ab")
    web = subprocess.Popen(["gunicorn", "app:server", "-w", "2", "-c", "gunicorn.conf.py", "-b", f"127.0.0.1:{port}"],
                           cwd=PROJECT_ROOT, env=_web_env(any_db_url, secrets.token_urlsafe(48)), stdout=log,
                           stderr=subprocess.STDOUT)
    try:
        _wait("gunicorn to answer /healthz", lambda: _healthz(port), 90, 0.25)
        master = psutil.Process(web.pid)
        _wait("two gunicorn workers", lambda: len(master.children()) == 2, 30)
        workers = {p.pid for p in master.children()}
        # each worker builds the app when it boots, and create_app starts its watcher thread: a booted worker
        # runs more than its main thread
        _wait("both workers to build the app", lambda: all(psutil.Process(pid).num_threads() >= 2 for pid in workers),
              60)
        time.sleep(2.0)  # both watchers are running with the engine alive: no incident
        record, detected = _kill_engine_and_await_one_action(store, engine, ctx, any_db_url, how)
        assert int(str(record["by"]).split(":")[1].split()[0]) in workers  # a worker acted, not the arbiter
        assert {p.pid for p in master.children()} == workers  # no worker died or was replaced meanwhile
        print(f"dead-man's switch, gunicorn -w 2: detected {detected:.1f} s after the engine was {how} "
              f"(threshold {THRESHOLD_S:g} s)")
        assert detected <= THRESHOLD_S + 3.0, f"detected {detected:.1f} s after the engine was {how}"
    finally:
        if web.poll() is None:
            web.send_signal(signal.SIGTERM)
            try:
                web.wait(timeout=30)
            except subprocess.TimeoutExpired:
                web.kill()
                web.wait(timeout=10)
        if engine.poll() is None:
            engine.send_signal(signal.SIGCONT)
            engine.kill()
            engine.wait(timeout=10)
        log.close()
        ctx.store.dispose()
        store.dispose()


@pytest.mark.slow
def test_deadman_acts_once_with_two_web_processes(tmp_path: Path, any_db_url: str) -> None:
    store, engine, ctx = _start_live_engine(tmp_path, any_db_url)
    env = _web_env(any_db_url, secrets.token_urlsafe(48))
    webs = [subprocess.Popen([sys.executable, "-c", WATCHER_SCRIPT], cwd=PROJECT_ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=(tmp_path / f"web{i}.log").open("ab"), text=True)
            for i in range(2)]
    try:
        for web in webs:
            assert web.stdout is not None
            line = web.stdout.readline()  # blocks until the app is built (bounded by the process: it prints or dies)
            assert line.startswith("READY "), f"{line!r}; see {tmp_path}"
            assert json.loads(line.split(" ", 1)[1]) == {"running": True}
        time.sleep(2.0)
        record, _detected = _kill_engine_and_await_one_action(store, engine, ctx)
        reports = []
        for web in webs:
            web.send_signal(signal.SIGTERM)
            out, _ = web.communicate(timeout=30)
            report = [ln for ln in out.splitlines() if ln.startswith("REPORT ")]
            assert report, out
            reports.append((web.pid, json.loads(report[0].split(" ", 1)[1])))
        assert all(r["running"] for _pid, r in reports)
        acted = [(pid, r["actions"]) for pid, r in reports if r["actions"]]
        assert [len(a) for _pid, a in acted] == [1] and acted[0][1][0].startswith("halt #"), reports
        assert [len(r["actions"]) for _pid, r in reports].count(0) == 1
        assert int(str(record["by"]).split(":")[1].split()[0]) == acted[0][0]
    finally:
        for web in webs:
            if web.poll() is None:
                web.kill()
                web.wait(timeout=10)
        if engine.poll() is None:
            engine.kill()
            engine.wait(timeout=10)
        ctx.store.dispose()
        store.dispose()


def test_a_killed_engine_is_one_incident_not_a_market_one_first(tmp_path: Path) -> None:
    """The data of a killed engine goes stale before its heartbeat does (it ticks every second, beats every two):
    while its last beat still looks live that is not a market incident, so the outage is acted on once."""
    from datetime import timedelta

    from engine.clock import ManualClock
    from tests.trading_control_fixtures import T0, beat, make_ctx

    ctx = make_ctx(tmp_path, clock=ManualClock(T0))
    killed = T0 - timedelta(seconds=4.5)
    beat(ctx.store, killed - timedelta(seconds=0.5))  # the last beat, half a second before the kill
    with ctx.store.write() as s:  # the last bars, received just before the kill
        s.add(KeyValue(key="market.last_received_at", value={"ts": (killed - timedelta(seconds=0.2)).isoformat()},
                       updated_at=killed))
    view = deadman.read_view(ctx.store, T0, THRESHOLD_S)  # data 4.7 s old, beat 5 s old but still "live"
    assert not view.tripped, view.reason
    later = deadman.read_view(ctx.store, T0 + timedelta(seconds=10), THRESHOLD_S)
    assert later.tripped and later.kind == "engine"
    # an engine that keeps beating while its data stays stale: a market incident
    beat(ctx.store, T0)
    alive = deadman.read_view(ctx.store, T0 + timedelta(seconds=0.5), THRESHOLD_S)
    assert alive.tripped and alive.kind == "market", alive.reason
    ctx.store.dispose()
