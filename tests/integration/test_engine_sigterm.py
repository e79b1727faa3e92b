"""SIGTERM on a real `python -m engine` process with open orders: orders cancelled, STOPPED saved,
exit 0 within seconds; a restart keeps STOPPED until an operator resumes."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from decimal import Decimal

import pytest
from sqlalchemy import select

from engine.clock import SystemClock
from engine.store.migrate import open_store
from engine.store.models import BarRow, CommandRow, EngineHeartbeat, Instrument, KeyValue, TradingStateRow
from engine.trading import state as ts
from engine.trading.brokers.base import OrderRequest, OrderSide, OrderType
from engine.trading.brokers.paper import PaperBroker
from engine.trading.state import TradingState

pytestmark = pytest.mark.slow


def start_engine(url: str, log_path) -> subprocess.Popen:
    env = {**os.environ, "REGIMEDESK_DATABASE_URL": url, "REGIMEDESK_BROKER": "paper",
           "REGIMEDESK_MARKET_SOURCE": "simulated", "REGIMEDESK_AUTOTRADE": "false"}
    from engine.settings import PROJECT_ROOT

    return subprocess.Popen([sys.executable, "-m", "engine"], cwd=PROJECT_ROOT, env=env,
                            stdout=log_path.open("ab"), stderr=subprocess.STDOUT)


def wait_active(store, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the engine exited during start-up"
        with store.read() as s:
            beat = s.scalars(select(EngineHeartbeat).where(EngineHeartbeat.status == "active")).first()
            has_state = s.get(TradingStateRow, 1) is not None
        if beat is not None and has_state:
            return
        time.sleep(0.2)
    raise AssertionError("the engine did not become active in time")


def stop(proc: subprocess.Popen, timeout: float = 15.0) -> tuple[int, float]:
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=timeout)
    return code, time.monotonic() - t0


def test_sigterm_cancels_orders_saves_stopped_and_exits_zero(tmp_path, any_db_url):
    url = any_db_url
    store = open_store(url, migrate=True)
    log_path = tmp_path / "engine.log"
    proc = start_engine(url, log_path)
    try:
        wait_active(store, proc)
        with store.read() as s:
            symbol = s.scalars(select(Instrument.symbol).where(Instrument.kind == "stock")).first()
            close = s.scalars(select(BarRow.close).where(BarRow.symbol == symbol).order_by(BarRow.ts.desc())).first()
        broker = PaperBroker(store, SystemClock())
        limit = Decimal(str(round(close * 0.6, 2)))  # far below the market: stays open
        for i in range(20):
            broker.submit_order(OrderRequest(f"sigterm-{i}", symbol, OrderSide.BUY, Decimal(1), OrderType.LIMIT, limit))
        assert len(broker.list_open_orders()) == 20
        code, took = stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    output = log_path.read_text(errors="replace")
    assert code == 0, output[-3000:]
    assert took < 10.0, f"shutdown took {took:.1f} s"
    assert broker.list_open_orders() == []
    with store.read() as s:
        assert ts.current(s).state is TradingState.STOPPED
        cmd = s.scalars(select(CommandRow).where(CommandRow.kind == "shutdown")).one()
        saved = s.get(KeyValue, "last_shutdown")
        beats = {b.status for b in s.scalars(select(EngineHeartbeat))}
    assert cmd.status == "done" and cmd.actor == "system:signal"
    assert [st["status"] for st in cmd.result["steps"]] == ["done", "done", "skipped", "done", "done", "done", "done", "done"]
    assert saved is not None and saved.value["open_orders"] == 0
    assert beats == {"stopped"}

    # restart: the saved state is kept (no trading until an operator resumes)
    proc = start_engine(url, log_path)
    try:
        wait_active(store, proc)
        time.sleep(1.0)
        with store.read() as s:
            assert ts.current(s).state is TradingState.STOPPED
        code, _ = stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0
    store.dispose()
