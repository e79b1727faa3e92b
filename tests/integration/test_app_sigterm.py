"""`python app.py` (embedded mode) on SIGTERM and on SIGINT, with a partially filled order open at
the paper broker: the same graceful shutdown as `python -m engine` (issue 9). Exit 0 within 10 s,
trading STOPPED, no open order at the broker, and the store's orders and positions equal the broker's
(the final broker sync)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from decimal import Decimal

import pytest
from sqlalchemy import select

from engine.clock import SystemClock
from engine.settings import PROJECT_ROOT
from engine.store.migrate import open_store
from engine.store.models import BarRow, CommandRow, Instrument, OrderRow, PositionRow
from engine.trading import state as ts
from engine.trading.brokers.paper import PaperBroker
from engine.trading.control import SimpleControlContext
from engine.trading.state import TradingState
from tests.integration.test_engine_sigterm import wait_active
from tests.integration.test_kill_switch_partial_fills import _record_and_send

pytestmark = pytest.mark.slow
PARTICIPATION = 0.0005


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_app(url: str, log_path, **extra: str) -> subprocess.Popen:
    env = {**os.environ, "REGIMEDESK_DATABASE_URL": url, "REGIMEDESK_PORT": str(free_port()),
           "REGIMEDESK_ENGINE_MODE": "embedded", "REGIMEDESK_AUTOTRADE": "false", "REGIMEDESK_TICK_SECONDS": "0.25",
           "REGIMEDESK_WARMUP_POLLS": "200", "REGIMEDESK_PAPER_PARTICIPATION": str(PARTICIPATION),
           "REGIMEDESK_DEADMAN_ACTION": "none", **extra}
    return subprocess.Popen([sys.executable, "app.py"], cwd=PROJECT_ROOT, env=env, stdout=log_path.open("ab"),
                            stderr=subprocess.STDOUT)


def open_partial_order(ctx: SimpleControlContext, proc: subprocess.Popen) -> str:
    """A market buy several bars' volume cap large, recorded like the gateway does; wait until it is
    partially filled at the broker (the embedded engine fills it bar by bar)."""
    with ctx.store.read() as s:
        symbol = s.scalars(select(Instrument.symbol).where(Instrument.kind == "stock").order_by(Instrument.symbol)
                           ).first()
        bars = list(s.scalars(select(BarRow).where(BarRow.symbol == symbol).order_by(BarRow.ts.desc()).limit(30)))
    volume = min(b.volume for b in bars)
    cap = max(1, int(volume * PARTICIPATION))
    qty = cap * 40  # about 40 bars (10 s at 0.25 s a tick) to fill in full
    assert qty * bars[0].close < 1_500_000, "the order would exceed the paper account's buying power"
    _record_and_send(ctx, "sigterm-partial", symbol, qty)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert proc.poll() is None, "app.py exited early"
        order = ctx.broker.get_order_by_client_id("sigterm-partial")
        assert order is not None
        if Decimal(0) < order.filled_qty < order.qty:
            return order.broker_order_id
        assert order.filled_qty < order.qty, "filled in full before the signal: make the order larger"
        time.sleep(0.05)
    raise AssertionError("the order did not fill partially within 20 s")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_app_py_signal_runs_the_graceful_shutdown(tmp_path, any_db_url, sig):
    url = any_db_url
    store = open_store(url, migrate=True)
    ctx = SimpleControlContext(store=store, clock=SystemClock(), broker=PaperBroker(store, SystemClock()))
    log_path = tmp_path / "app.log"
    proc = start_app(url, log_path)
    try:
        wait_active(store, proc)
        open_partial_order(ctx, proc)
        t0 = time.monotonic()
        proc.send_signal(sig)
        code = proc.wait(timeout=20)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    output = log_path.read_text(errors="replace")
    assert code == 0, output[-3000:]
    assert took < 10.0, f"app.py took {took:.1f} s to stop"
    assert ctx.broker.list_open_orders() == []
    broker_order = ctx.broker.get_order_by_client_id("sigterm-partial")
    assert broker_order is not None and broker_order.status.value == "canceled"
    assert Decimal(0) < broker_order.filled_qty < broker_order.qty
    with store.read() as s:
        assert ts.current(s).state is TradingState.STOPPED
        cmd = s.scalars(select(CommandRow).where(CommandRow.kind == "shutdown")).one()
        stored = {r.client_order_id: (r.status, r.filled_qty) for r in s.scalars(select(OrderRow))}
        positions = {p.symbol: p.qty for p in s.scalars(select(PositionRow)) if p.qty != 0}
    assert cmd.status == "done" and cmd.actor == "system:signal", cmd.result
    steps = {st["name"]: st["status"] for st in cmd.result["steps"]}
    assert steps["sync_broker"] == "done" and steps["stopped"] == "done"
    assert stored["sigterm-partial"] == ("canceled", broker_order.filled_qty)
    assert positions == {p.symbol: p.qty for p in ctx.broker.get_positions()}
    assert positions[broker_order.symbol] == broker_order.filled_qty
    assert "1 order(s) partially filled" in cmd.result["message"]
    store.dispose()
