"""The kill switch against the local Alpaca-compatible server over real HTTP (AlpacaBroker, alpaca-py
not mocked): 100 open orders cancelled and confirmed; flatten goes through the gateway."""
from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import select

from engine.clock import SystemClock
from engine.store.models import OrderRow
from engine.trading import control
from engine.trading import state as ts
from engine.trading.brokers.alpaca import AlpacaBroker
from engine.trading.brokers.base import OrderRequest, OrderSide, OrderType
from engine.trading.control import SimpleControlContext
from engine.trading.state import TradingState
from tests.fake_alpaca import FakeAlpacaServer
from tests.trading_control_fixtures import make_store, seed_market


@pytest.fixture()
def setup(tmp_path, any_db_url: str) -> Iterator[tuple[SimpleControlContext, FakeAlpacaServer]]:
    store = make_store(tmp_path, any_db_url)
    clock = SystemClock()
    seed_market(store, clock, symbols=("AAPL", "MSFT"))
    with FakeAlpacaServer(key_id="k", secret_key="s") as server:
        broker = AlpacaBroker("k", "s", paper=True, url_override=server.url, timeout_s=2.0)
        yield SimpleControlContext(store=store, clock=clock, broker=broker), server
    store.dispose()


def test_kill_switch_cancels_100_orders_at_the_alpaca_server(setup):
    ctx, server = setup
    for i in range(100):
        ctx.broker.submit_order(OrderRequest(f"alp-{i}", "AAPL", OrderSide.BUY, Decimal(1), OrderType.LIMIT,
                                             Decimal(50)))
    assert len(server.book.open_orders()) == 100
    result = control.perform(ctx, "alice", "kill_switch", reason="test", execute="here")
    assert result.status == "done", result.message
    assert server.book.open_orders() == []
    assert "cancelled 100" in result.steps[1].detail
    # one cancel-all request, not one per order; its time: python -m bench.bench_alpaca
    assert server.hits_for("DELETE", "/v2/orders") == 1
    with ctx.store.read() as s:
        assert ts.current(s).state is TradingState.HALTED


def test_kill_switch_with_flatten_sends_closing_orders_through_the_gateway(setup):
    ctx, server = setup
    server.book.set_position("MSFT", Decimal(12), Decimal(100))
    result = control.perform(ctx, "alice", "halt", reason="flatten", flatten=True, execute="here")
    assert result.status == "done", result.message
    with ctx.store.read() as s:
        rows = list(s.scalars(select(OrderRow).where(OrderRow.origin == "flatten")))
    assert [(r.symbol, r.side, r.qty) for r in rows] == [("MSFT", "sell", Decimal(12))]
    assert len(server.book.orders_for(rows[0].client_order_id)) == 1  # sent once, by our client order id
    assert server.book.positions.get("MSFT", (Decimal(0), Decimal(0)))[0] == 0  # the fake fills market orders


def test_broker_down_during_the_kill_switch_is_reported_but_the_halt_holds(setup):
    ctx, server = setup
    server.inject("DELETE", "/v2/orders", "500", times=10)
    server.inject("GET", "/v2/orders", "500", times=10)
    result = control.perform(ctx, "alice", "halt", reason="broker trouble", execute="here")
    assert result.status == "failed" and result.steps[1].status == "failed"
    assert result.steps[1].detail  # a message for the trader, not a blank
    with ctx.store.read() as s:
        assert ts.current(s).state is TradingState.HALTED  # committed before any broker call


def test_shutdown_reaches_stopped_even_when_the_broker_is_unreachable(setup):
    ctx, server = setup
    ctx.broker.breaker.open()  # every broker call now fails fast, as after repeated outages
    result = control.graceful_shutdown(ctx, "system:signal", flatten=False)
    statuses = {s.name: s.status for s in result.steps}
    assert result.status == "failed" and statuses["cancel_orders"] == "failed"
    assert statuses["save_state"] == "done" and statuses["stopped"] == "done"
    assert "store (broker unreachable)" in next(s.detail for s in result.steps if s.name == "save_state")
    with ctx.store.read() as s:
        assert ts.current(s).state is TradingState.STOPPED
