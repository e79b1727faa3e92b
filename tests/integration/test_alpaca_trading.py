"""The engine's trading path (gateway, sync, kill switch) on AlpacaBroker over real HTTP to the fake server.

Shows the adapter fits the gateway's contract: under every submit fault the store and Alpaca end
with the same single order (or, when it never reached Alpaca, none at either), and the kill switch
cancels 100 open Alpaca orders with one cancel-all request (its time: `python -m bench.bench_alpaca`).
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from engine.clock import ManualClock
from engine.context import EngineContext
from engine.store.models import FillRow, OrderRow
from engine.trading import control
from engine.trading import state as ts
from engine.trading.brokers.alpaca import AlpacaBroker
from engine.trading.brokers.base import OrderSide, OrderStatus, OrderType
from engine.trading.gateway import OrderIntent, submit
from engine.trading.state import TradingState
from engine.trading.sync import sync_from_broker
from tests.fake_alpaca import FakeAlpacaServer
from tests.trading_control_fixtures import LOOSE, broker_context, place_resting_orders

D = Decimal


@pytest.fixture
def server() -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer() as srv:
        yield srv


@pytest.fixture
def ctx(tmp_path, any_db_url: str, server: FakeAlpacaServer) -> Iterator[EngineContext]:
    def broker(_clock: ManualClock) -> AlpacaBroker:
        return AlpacaBroker(server.key_id, server.secret_key, paper=True, url_override=server.url, timeout_s=1.0,
                            retry_wait_s=0.01, retry_max_wait_s=0.05, sdk_retry_wait_s=0.05)

    with broker_context(tmp_path, any_db_url, broker, LOOSE) as context:
        yield context


def rows_for(ctx: EngineContext, coid: str) -> list[OrderRow]:
    with ctx.store.read() as s:
        return list(s.scalars(select(OrderRow).where(OrderRow.client_order_id == coid)))


@pytest.mark.parametrize("kind", ["429", "504", "500", "drop", "commit_then_drop", "commit_then_504"])
def test_gateway_and_sync_agree_with_alpaca_under_submit_faults(ctx: EngineContext, server: FakeAlpacaServer,
                                                                kind: str) -> None:
    server.inject("POST", "/v2/orders", kind)
    result = submit(ctx, OrderIntent("AAA", OrderSide.BUY, D(5), OrderType.MARKET, None, reason="test",
                                     idempotency_key=f"k-{kind}"), "planner", "planner", LOOSE)
    coid = result.client_order_id
    at_alpaca = server.book.orders_for(coid)
    assert len(at_alpaca) <= 1, "never a duplicate at the broker"
    ctx.clock.advance(timedelta(seconds=45))  # past the sync's grace for pending orders
    sync_from_broker(ctx, LOOSE)
    [row] = rows_for(ctx, coid)
    if at_alpaca:
        assert row.status == OrderStatus.FILLED.value and row.broker_order_id == at_alpaca[0].id
        with ctx.store.read() as s:
            assert s.scalar(select(func.sum(FillRow.qty)).where(FillRow.client_order_id == coid)) == D(5)
    else:  # 500 / drop: Alpaca never had it, and the store says so instead of losing track
        assert row.status == OrderStatus.REJECTED.value and "never received" in (row.reject_reason or "")
    again = submit(ctx, OrderIntent("AAA", OrderSide.BUY, D(5), OrderType.MARKET, None, reason="test",
                                    idempotency_key=f"k-{kind}"), "planner", "planner", LOOSE)
    assert again.client_order_id == coid and len(server.book.orders_for(coid)) == len(at_alpaca)


def test_kill_switch_cancels_100_open_alpaca_orders_in_one_request(ctx: EngineContext,
                                                                    server: FakeAlpacaServer) -> None:
    cctx = control.SimpleControlContext(store=ctx.store, clock=ctx.clock, broker=ctx.broker)
    place_resting_orders(cctx, 100)
    assert len(server.book.open_orders()) == 100
    deletes_before = server.hits_for("DELETE", "/v2/orders")
    result = control.perform(cctx, "alice", "kill_switch", reason="runaway planner")
    assert result.status == "done", result.message
    assert server.book.open_orders() == []
    # Fast by construction: one cancel-all request, not one per order (the time itself, ~0.2 s against a
    # 1 s goal, is measured by `python -m bench.bench_alpaca`, not asserted here on a shared CI machine)
    assert server.hits_for("DELETE", "/v2/orders") == deletes_before + 1
    assert not any(m == "DELETE" and p.startswith("/v2/orders/") for m, p, _ in server.log)
    with ctx.store.read() as s:
        assert ts.current(s).state is TradingState.HALTED
        assert set(s.scalars(select(OrderRow.status).where(OrderRow.client_order_id.like("rest-%")))) == {"canceled"}


def test_halt_with_flatten_closes_alpaca_positions(ctx: EngineContext, server: FakeAlpacaServer) -> None:
    server.book.set_position("AAA", D(10), D(100))
    server.book.set_position("BBB", D(-5), D(100))
    cctx = control.SimpleControlContext(store=ctx.store, clock=ctx.clock, broker=ctx.broker)
    result = control.perform(cctx, "alice", "halt", reason="end of day", flatten=True)
    assert result.status == "done", result.message
    assert server.book.positions == {}
    assert {(o.symbol, o.side, o.qty) for o in server.book.orders.values()} == {
        ("AAA", "sell", D(10)), ("BBB", "buy", D(5))}
