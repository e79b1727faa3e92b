"""The web and the engine racing for the same command on SQLite and PostgreSQL: each command runs
exactly once, and the HALT is visible to every connection before any broker work."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from engine.clock import SystemClock
from engine.store.models import AuditEvent, CommandRow
from engine.trading import command_runner, control
from engine.trading import state as ts
from engine.trading.state import TradingState
from tests.trading_control_fixtures import beat, make_ctx, place_resting_orders


@pytest.fixture()
def ctx(tmp_path, any_db_url):
    c = make_ctx(tmp_path, SystemClock(), url=any_db_url)
    yield c
    c.store.dispose()


def test_web_and_engine_never_both_run_a_command(ctx):
    place_resting_orders(ctx, 30)
    beat(ctx.store, ctx.clock.now())  # the engine looks alive: the web offers it every command
    stop = threading.Event()

    def engine_loop() -> None:
        while not stop.is_set():
            command_runner.process_pending_commands(ctx)

    engine = threading.Thread(target=engine_loop)
    engine.start()
    try:
        results = []
        for i in range(6):
            action = "halt" if i % 2 == 0 else "resume"
            results.append(control.perform(ctx, "web:alice", action, reason=f"round {i}", handoff_s=0.01,
                                           wait_s=5.0))
    finally:
        stop.set()
        engine.join()
    assert [r.status for r in results] == ["done"] * 6
    with ctx.store.read() as s:
        ran = s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "control.halt.result"))
        pending = s.scalar(select(func.count()).select_from(CommandRow).where(CommandRow.status != "done"))
        assert ts.current(s).state is TradingState.ACTIVE
    assert ran == 3 and pending == 0
    assert ctx.broker.list_open_orders() == []


def test_halt_is_committed_before_the_broker_is_touched(ctx):
    place_resting_orders(ctx, 5)
    queued = control.perform(ctx, "web:alice", "halt", reason="x", execute="engine")
    other = ctx.store.__class__(ctx.store.url)  # a second process's view of the store
    try:
        with other.read() as s:
            assert ts.current(s).state is TradingState.HALTED
    finally:
        other.dispose()
    assert len(ctx.broker.list_open_orders()) == 5 and queued.status == "pending"
