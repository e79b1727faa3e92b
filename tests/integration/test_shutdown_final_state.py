"""The graceful shutdown button with a live engine (issue 9, "state and engine agree"): orders the broker
filled just before are shown filled afterwards (the final broker sync), and the action's result names
the final state (STOPPED), not SHUTTING_DOWN. Also `python -m engine` SIGTERM right after fills, on
SQLite and PostgreSQL: the store's orders equal the broker's."""
from __future__ import annotations

import signal
import threading
import time
from decimal import Decimal

import pytest
from sqlalchemy import select

from engine.clock import SystemClock
from engine.store.migrate import open_store
from engine.store.models import BarRow, Instrument, OrderRow, PositionRow
from engine.trading import command_runner, control
from engine.trading import state as ts
from engine.trading.brokers.paper import PaperBroker
from engine.trading.control import SimpleControlContext
from engine.trading.state import TradingState
from tests.integration.test_engine_sigterm import start_engine, wait_active
from tests.integration.test_kill_switch_partial_fills import _bar, _record_and_send
from tests.trading_control_fixtures import beat, make_ctx
from webapp.control_actions import describe


def test_shutdown_handed_to_the_engine_reports_stopped_and_shows_fills(tmp_path):
    ctx = make_ctx(tmp_path)
    _record_and_send(ctx, "filled-before", "AAA", 40)
    ctx.broker.process_bars([_bar(ctx, "AAA", 1_000_000)])  # the broker fills it; the store still says new
    with ctx.store.read() as s:
        assert s.scalars(select(OrderRow.status).where(OrderRow.client_order_id == "filled-before")).one() == "new"
    beat(ctx.store, ctx.clock.now())  # a live engine: the web hands the command over
    stop = threading.Event()

    def engine_loop() -> None:  # the engine's command job
        deadline = time.monotonic() + 20
        while not stop.is_set() and time.monotonic() < deadline:
            if command_runner.process_pending_commands(ctx):
                return
            time.sleep(0.05)

    engine = threading.Thread(target=engine_loop)
    engine.start()
    try:
        result = control.perform(ctx, "web:alice", "shutdown", reason="maintenance", handoff_s=1.0, wait_s=8.0)
    finally:
        stop.set()
        engine.join(timeout=30)
    assert result.status == "done" and result.executor.endswith("(engine)"), result
    assert result.state is TradingState.STOPPED
    message, colour = describe(result)
    assert colour == "success" and "Trading is now STOPPED" in message and "SHUTTING_DOWN" not in message
    with ctx.store.read() as s:
        order = s.scalars(select(OrderRow).where(OrderRow.client_order_id == "filled-before")).one()
        position = s.get(PositionRow, "AAA")
    assert (order.status, order.filled_qty) == ("filled", Decimal(40))
    assert position is not None and position.qty == Decimal(40)
    ctx.store.dispose()


@pytest.mark.slow
def test_engine_sigterm_right_after_fills_leaves_the_store_equal_to_the_broker(tmp_path, any_db_url):
    store = open_store(any_db_url, migrate=True)
    ctx = SimpleControlContext(store=store, clock=SystemClock(), broker=PaperBroker(store, SystemClock()))
    proc = start_engine(any_db_url, tmp_path / "engine.log")
    try:
        wait_active(store, proc)
        with store.read() as s:
            symbols = list(s.scalars(select(Instrument.symbol).where(Instrument.kind == "stock")
                                     .order_by(Instrument.symbol).limit(3)))
            assert all(s.scalars(select(BarRow.id).where(BarRow.symbol == sym).limit(1)).first() for sym in symbols)
        for i, sym in enumerate(symbols):
            _record_and_send(ctx, f"quick-{i}", sym, 1)  # one share at market: filled on the next bar
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # SIGTERM as soon as the broker has filled them all
            orders = [ctx.broker.get_order_by_client_id(f"quick-{i}") for i in range(len(symbols))]
            if all(o is not None and o.status.value == "filled" for o in orders):
                break
            time.sleep(0.02)
        else:
            raise AssertionError("the engine did not fill the orders")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    with store.read() as s:
        stored = {r.client_order_id: (r.status, r.filled_qty) for r in s.scalars(select(OrderRow))}
        positions = {p.symbol: p.qty for p in s.scalars(select(PositionRow)) if p.qty != 0}
        assert ts.current(s).state is TradingState.STOPPED
    assert all(stored[f"quick-{i}"] == ("filled", Decimal(1)) for i in range(len(symbols))), stored
    assert positions == {p.symbol: p.qty for p in ctx.broker.get_positions()}
    store.dispose()
