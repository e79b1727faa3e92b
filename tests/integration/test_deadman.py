"""The dead-man's switch (issue 9) against a real `python -m engine` SIGKILLed or SIGSTOPped, with two
web-side watchers (each with its own database connections, as two web workers have) that must act
exactly once; and the incident guard under racing watchers on SQLite and PostgreSQL."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from engine.clock import ManualClock, SystemClock
from engine.health import deadman
from engine.settings import PROJECT_ROOT
from engine.store.migrate import open_store
from engine.store.models import AuditEvent, CommandRow, KeyValue
from engine.trading import state as ts
from engine.trading.brokers.paper import PaperBroker
from engine.trading.control import SimpleControlContext
from engine.trading.state import TradingState
from tests.browser.test_trd001_kill_switch_dialog import rest_orders
from tests.integration.test_engine_sigterm import wait_active
from tests.integration.test_kill_switch_engine_down import signal_outside_a_write
from tests.trading_control_fixtures import T0, beat, make_ctx, place_resting_orders
from webapp.deadman import DeadmanWatcher

THRESHOLD_S = 4.0


def start_engine(url: str, log_path) -> subprocess.Popen:
    env = {**os.environ, "REGIMEDESK_DATABASE_URL": url, "REGIMEDESK_BROKER": "paper",
           "REGIMEDESK_MARKET_SOURCE": "simulated", "REGIMEDESK_AUTOTRADE": "false", "REGIMEDESK_WARMUP_POLLS": "200",
           "REGIMEDESK_NOTIFY_URLS": ""}
    return subprocess.Popen([sys.executable, "-m", "engine"], cwd=PROJECT_ROOT, env=env,
                            stdout=log_path.open("ab"), stderr=subprocess.STDOUT)


def web_ctx(url: str) -> SimpleControlContext:
    """What one web worker has: its own store (connection pool), the wall clock, the paper broker."""
    store = open_store(url, migrate=False)
    return SimpleControlContext(store=store, clock=SystemClock(), broker=PaperBroker(store, SystemClock()))


def wait_for(predicate, timeout_s: float, what: str) -> float:  # type: ignore[no-untyped-def]
    t0 = time.monotonic()
    while not predicate():
        assert time.monotonic() - t0 < timeout_s, what
        time.sleep(0.05)
    return time.monotonic() - t0


def _count(store, model, *where) -> int:  # type: ignore[no-untyped-def]
    with store.read() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


@pytest.mark.slow
@pytest.mark.parametrize("how", ["killed", "stopped"])
def test_deadman_halts_once_with_two_web_watchers(tmp_path, any_db_url, how: str):
    url = any_db_url
    store = open_store(url, migrate=True)
    proc = start_engine(url, tmp_path / "engine.log")
    watchers: list[DeadmanWatcher] = []
    try:
        wait_active(store, proc)
        ctx = web_ctx(url)
        rest_orders(ctx, 20, f"deadman-{how}")
        watchers = [DeadmanWatcher(web_ctx(url), THRESHOLD_S, "halt", label=f"web-worker-{i}").start()
                    for i in range(2)]
        time.sleep(1.0)
        assert all(w.actions == [] for w in watchers), "tripped while the engine was alive"
        t_signal = time.monotonic()
        signal_outside_a_write(proc, signal.SIGKILL if how == "killed" else signal.SIGSTOP, url)
        detected = wait_for(lambda: _count(store, AuditEvent, AuditEvent.action == "deadman.trigger") > 0,
                            THRESHOLD_S + 10, "the dead-man's switch did not trip")
        detected = time.monotonic() - t_signal
        wait_for(lambda: any(w.actions for w in watchers), 15, "no watcher finished its action")
        time.sleep(2 * watchers[0].interval_s + 0.5)  # let the other watcher see the incident too
        assert detected <= THRESHOLD_S + 2.0, f"detected {detected:.1f} s after the {how} (threshold {THRESHOLD_S})"
        assert sorted(len(w.actions) for w in watchers) == [0, 1], [w.actions for w in watchers]
        assert ctx.broker.list_open_orders() == []
        with store.read() as s:
            snap = ts.current(s)
            halts = list(s.scalars(select(CommandRow).where(CommandRow.kind == "halt")))
            incidents = list(s.scalars(select(KeyValue).where(KeyValue.key.startswith(deadman.GUARD_PREFIX))))
        assert snap.state is TradingState.HALTED and snap.changed_by == deadman.DEADMAN_ACTOR
        assert snap.reason.startswith("dead-man's switch: engine heartbeat stale for")
        assert [(c.actor, c.status) for c in halts] == [(deadman.DEADMAN_ACTOR, "done")]
        assert len(incidents) == 1 and incidents[0].value["result"].startswith("halt #")
        assert _count(store, AuditEvent, AuditEvent.action == "deadman.trigger") == 1
        if how == "stopped":  # the engine wakes up: the halt is not run twice, and it stops cleanly
            proc.send_signal(signal.SIGCONT)
            time.sleep(1.5)
            assert _count(store, CommandRow, CommandRow.status == "pending") == 0
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=15) == 0
    finally:
        for w in watchers:
            w.stop()
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.kill()
            proc.wait(timeout=10)
    store.dispose()


def _stale_engine_ctx(tmp_path, url: str):  # type: ignore[no-untyped-def]
    ctx = make_ctx(tmp_path, url=url)
    place_resting_orders(ctx, 4)
    beat(ctx.store, T0 - timedelta(seconds=40))  # the engine's last beat, 40 s before "now"
    return ctx


def test_racing_watchers_act_exactly_once(tmp_path, any_db_url):
    """Eight watchers (separate connection pools) race on the same incident: one halt, one audit entry."""
    ctx = _stale_engine_ctx(tmp_path, any_db_url)
    contexts = [SimpleControlContext(store=open_store(any_db_url), clock=ctx.clock, broker=ctx.broker)
                for _ in range(8)]
    views = [deadman.read_view(c.store, c.clock.now(), 30.0) for c in contexts]
    assert all(v.tripped and v.kind == "engine" and v.incident == views[0].incident for v in views)
    barrier = threading.Barrier(len(contexts))
    outcomes: list[str | None] = [None] * len(contexts)

    def run(i: int) -> None:
        barrier.wait(timeout=60)  # generous: eight pools connecting on a loaded machine
        outcomes[i] = deadman.act(contexts[i], views[i], "halt", f"worker-{i}")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(contexts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    acted = [o for o in outcomes if o is not None]
    assert len(acted) == 1 and acted[0].startswith("halt #"), outcomes
    assert _count(ctx.store, CommandRow, CommandRow.kind == "halt") == 1
    assert _count(ctx.store, AuditEvent, AuditEvent.action == "deadman.trigger") == 1
    assert ctx.broker.list_open_orders() == []
    again = deadman.read_view(ctx.store, ctx.clock.now(), 30.0)
    assert again.tripped and again.record is not None and again.record["result"] == acted[0]
    assert "DEAD-MAN'S SWITCH: engine heartbeat stale for 40 s" in again.banner_text()
    for c in contexts:
        c.store.dispose()
    ctx.store.dispose()


def test_what_trips_and_what_each_action_does(tmp_path):
    ctx = make_ctx(tmp_path, clock=ManualClock(T0))
    view = deadman.read_view(ctx.store, T0, 30.0)
    assert not view.tripped and view.liveness.status == "never"  # no engine ever ran: nothing to watch
    beat(ctx.store, T0 - timedelta(seconds=10))
    assert not deadman.read_view(ctx.store, T0, 30.0).tripped  # stale for 10 s: below the threshold
    assert not deadman.read_view(ctx.store, T0, 0.0).tripped  # 0 turns the switch off
    beat(ctx.store, T0 - timedelta(seconds=31))
    view = deadman.read_view(ctx.store, T0, 30.0)
    assert view.tripped and view.kind == "engine"

    # none: recorded and shown, state unchanged
    assert deadman.act(ctx, view, "none", "w1") is not None
    assert deadman.act(ctx, view, "none", "w2") is None  # the same incident: once
    with ctx.store.read() as s:
        assert ts.current(s).state is TradingState.ACTIVE

    # a new incident (the engine came back, then died again): reduce moves ACTIVE to REDUCING
    beat(ctx.store, T0 - timedelta(seconds=45))
    view = deadman.read_view(ctx.store, T0, 30.0)
    assert view.record is None
    outcome = deadman.act(ctx, view, "reduce", "w1")
    assert outcome is not None and outcome.startswith("reduce #")
    with ctx.store.read() as s:
        snap = ts.current(s)
    assert snap.state is TradingState.REDUCING and snap.changed_by == deadman.DEADMAN_ACTOR

    # market data stale while the engine beats
    beat(ctx.store, T0)
    with ctx.store.write() as s:
        s.add(KeyValue(key="market.last_received_at", value={"ts": (T0 - timedelta(seconds=50)).isoformat()},
                       updated_at=T0))
    view = deadman.read_view(ctx.store, T0, 30.0)
    assert view.tripped and view.kind == "market" and "market data stale for 50 s" in view.reason
    assert not deadman.read_view(ctx.store, T0, 30.0, market_open=False).tripped  # closed market: expected

    # a deliberate stop is not an incident
    with ctx.store.write() as s:
        ts.change(s, T0, TradingState.SHUTTING_DOWN, "alice", "maintenance")
        ts.change(s, T0, TradingState.STOPPED, "alice", "maintenance")
    beat(ctx.store, T0 - timedelta(seconds=300))
    assert not deadman.read_view(ctx.store, T0, 30.0).tripped
    ctx.store.dispose()


def test_banner_engine_line_is_red_when_tripped(tmp_path):
    from webapp.deadman import engine_line

    ctx = make_ctx(tmp_path, clock=ManualClock(T0))
    beat(ctx.store, T0 - timedelta(seconds=1))
    _text, classes = engine_line(deadman.read_view(ctx.store, T0, 30.0))
    assert "text-success" in classes and "alert-danger" not in classes
    beat(ctx.store, T0 - timedelta(seconds=20))  # down, below the threshold: red, trading ACTIVE with no engine
    text, classes = engine_line(deadman.read_view(ctx.store, T0, 30.0))
    assert "alert-danger" in classes and "no engine is running it" in str(text)
    beat(ctx.store, T0 - timedelta(seconds=60))
    text, classes = engine_line(deadman.read_view(ctx.store, T0, 30.0))
    assert "alert-danger" in classes and "DEAD-MAN'S SWITCH" in str(text)
    ctx.store.dispose()


def test_create_app_starts_one_watcher_and_the_banner_shows_the_engine(tmp_path):
    from app import create_app
    from engine.runtime import build_context
    from engine.settings import load_settings
    from webapp.deadman import EXTENSION_KEY

    settings = load_settings(database_url=f"sqlite:///{tmp_path}/web.db", engine_mode="none", deadman_seconds=5)
    ctx = build_context(settings, with_source=False, migrate=True)
    app = create_app(settings, context=ctx)
    watcher = app.server.extensions[EXTENSION_KEY]
    try:
        assert watcher.running and watcher.threshold_s == 5.0 and watcher.action == "halt"
        assert "banner-engine.children" in str(list(app.callback_map))
    finally:
        watcher.stop(timeout_s=15)  # a tick in progress on a loaded machine finishes first
        ctx.store.dispose()
    assert not watcher.running


def test_stop_all_ends_every_watcher_this_process_started(tmp_path):
    """The suite's guard against a watcher outliving its test (see tests/conftest.py)."""
    from webapp.deadman import stop_all

    ctx = make_ctx(tmp_path, clock=SystemClock())
    watchers = [DeadmanWatcher(ctx, 30.0, "none", interval_s=0.05).start() for _ in range(2)]
    assert all(w.running for w in watchers)
    assert stop_all(timeout_s=15) >= 2  # at least these two (an earlier test's slow-stopping one may count too)
    assert not any(w.running for w in watchers)
    assert watchers[0].start().running, "a stopped watcher starts again on its app's next request"
    assert stop_all(timeout_s=15) >= 1 and not watchers[0].running
