"""trade_updates applied to the store as they arrive, once each, across a reconnect with a REST catch-up.

Real websocket (alpaca-py TradingStream) and real HTTP against the fake Alpaca server on 127.0.0.1.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from engine.clock import ManualClock
from engine.context import EngineContext
from engine.store.models import FillRow, OrderRow
from engine.trading.brokers.alpaca import AlpacaBroker
from engine.trading.brokers.alpaca_stream import AlpacaTradeUpdates
from engine.trading.brokers.base import OrderSide, OrderType
from engine.trading.gateway import OrderIntent, submit
from engine.trading.sync import sync_from_broker
from engine.trading.trade_updates import TradeUpdatesApplier
from tests import trading_control_fixtures
from tests.fake_alpaca import FakeAlpacaServer
from tests.trading_control_fixtures import broker_context
from tests.waiting import wait_for

D = Decimal
LOOSE = dataclasses.replace(trading_control_fixtures.LOOSE, price_collar_pct=D(90))


@pytest.fixture
def server() -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer(stream=True) as srv:
        yield srv


@pytest.fixture
def ctx(tmp_path, any_db_url: str, server: FakeAlpacaServer) -> Iterator[EngineContext]:
    def broker(clock: ManualClock) -> AlpacaBroker:
        return AlpacaBroker(server.key_id, server.secret_key, url_override=server.url, timeout_s=1.0, clock=clock)

    with broker_context(tmp_path, any_db_url, broker, LOOSE) as context:
        yield context


def row(ctx: EngineContext, coid: str) -> OrderRow:
    with ctx.store.read() as s:
        r = s.scalars(select(OrderRow).where(OrderRow.client_order_id == coid)).one()
        s.expunge(r)
        return r


def resting(ctx: EngineContext, key: str, qty: int = 5) -> str:
    result = submit(ctx, OrderIntent("AAA", OrderSide.BUY, D(qty), OrderType.LIMIT, D("60"), reason="test",
                                     idempotency_key=key), "planner", "planner", LOOSE)
    assert result.accepted, result.reason
    return result.client_order_id


def test_events_applied_once_each_across_a_reconnect(ctx: EngineContext, server: FakeAlpacaServer) -> None:
    assert server.stream is not None
    applier = TradeUpdatesApplier(ctx, catch_up=lambda: sync_from_broker(ctx, LOOSE))
    stream = AlpacaTradeUpdates(server.key_id, server.secret_key, applier.on_update, url_override=server.stream_url,
                                on_connect=applier.on_connect)
    stream.start()
    try:
        assert wait_for(lambda: server.stream.client_count() == 1 and stream.connections == 1)
        coid = resting(ctx, "one")
        assert wait_for(lambda: applier.counters.handled == 1), "the 'new' event"
        # the event may beat the gateway's own write of Alpaca's answer: either one moved pending_new -> new
        assert applier.counters.applied + applier.counters.unchanged == 1 and row(ctx, coid).status == "new"
        base = applier.counters.applied
        oid = row(ctx, coid).broker_order_id
        server.book.fill(oid, D(2), D("60"))  # partial_fill -> applied as it arrives, before any REST sync
        assert wait_for(lambda: row(ctx, coid).status == "partially_filled")
        assert row(ctx, coid).filled_qty == D(2) and applier.counters.applied == base + 1
        server.stream.push("partial_fill", server.book.get(oid).to_json(), "60", "2")  # the same event again
        assert wait_for(lambda: applier.counters.handled == 3)
        assert applier.counters.applied == base + 1 and row(ctx, coid).filled_qty == D(2), "a repeat changes nothing"

        server.stream.drop_clients()  # the gap: the rest fills while nobody listens
        assert wait_for(lambda: server.stream.client_count() == 0, 2.0)
        server.book.fill(oid, D(3), D("60"))
        assert row(ctx, coid).status == "partially_filled", "the lost event did not reach the store"
        assert wait_for(lambda: stream.connections == 2, 8.0), "reconnected"
        assert wait_for(lambda: applier.counters.catch_ups == 1, 5.0), "one REST catch-up after the reconnect"
        caught = row(ctx, coid)
        assert (caught.status, caught.filled_qty) == ("filled", D(5))
        with ctx.store.read() as s:
            assert s.scalar(select(func.sum(FillRow.qty)).where(FillRow.client_order_id == coid)) == D(5)

        second = resting(ctx, "two")  # after the reconnect events flow again
        server.book.cancel(row(ctx, second).broker_order_id)
        assert wait_for(lambda: row(ctx, second).status == "canceled")
        # 'new' of the second order may again be applied by either writer; its cancel only by the stream
        assert base + 2 <= applier.counters.applied <= base + 3 and applier.counters.catch_up_errors == 0
    finally:
        assert stream.stop(timeout_s=3.0)


def test_a_standby_engine_never_writes_from_the_stream(ctx: EngineContext, server: FakeAlpacaServer) -> None:
    assert server.stream is not None
    applier = TradeUpdatesApplier(ctx, is_leader=lambda: False, catch_up=lambda: None)
    stream = AlpacaTradeUpdates(server.key_id, server.secret_key, applier.on_update, url_override=server.stream_url)
    stream.start()
    try:
        assert wait_for(lambda: server.stream.client_count() == 1)
        coid = resting(ctx, "standby")
        server.book.fill(row(ctx, coid).broker_order_id, D(5), D("60"))
        assert wait_for(lambda: applier.counters.ignored == 2)
        assert row(ctx, coid).status == "new"
    finally:
        assert stream.stop(timeout_s=3.0)
