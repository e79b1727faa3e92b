"""A broker-side (native) stop-loss on Alpaca follows the position's average entry price after scaling in: placed
again from the average, as the engine's own check measures it (engine/execution/stop_position.py). Real HTTP to the
fake Alpaca (alpaca-py not mocked), SQLite and PostgreSQL; the levels are worked out by hand in the comments."""
from __future__ import annotations

from decimal import Decimal as D

from sqlalchemy import select

from engine.context import EngineContext
from engine.execution.protect import attach_stop
from engine.execution.stops import StopSpec
from engine.execution.tick import on_market_tick
from engine.store.models import OrderRow
from engine.trading.brokers.base import OrderSide
from engine.trading.gateway import OrderIntent, submit
from engine.trading.sync import sync_from_broker
from tests.fake_alpaca import FakeAlpacaServer
from tests.fake_alpaca.book import FakeOrder
from tests.trading_control_fixtures import LOOSE, alpaca_fixtures

server, ctx = alpaca_fixtures()


def _native_stops(srv: FakeAlpacaServer) -> list[FakeOrder]:
    with srv.book.lock:
        return [o for o in srv.book.orders.values() if o.order_type == "stop" and o.status == "new"]


def test_the_native_stop_is_placed_again_from_the_average_entry(server: FakeAlpacaServer,
                                                                 ctx: EngineContext) -> None:
    server.book.prices["AAA"] = D(100)
    assert submit(ctx, OrderIntent("AAA", OrderSide.BUY, D(100), idempotency_key="n1"), "t", "manual",
                  LOOSE).accepted  # the fake fills a market order at once, at 100
    sync_from_broker(ctx)
    attach_stop(ctx, "AAA", StopSpec(stop_loss_pct=D(10)), "alice")
    ctx.clock.advance(60)  # type: ignore[attr-defined]  # a ManualClock
    on_market_tick(ctx, [])
    [first] = _native_stops(server)
    assert (first.qty, first.stop_price) == (D(100), D(90))  # 100 * 0.9
    server.book.prices["AAA"] = D(120)
    assert submit(ctx, OrderIntent("AAA", OrderSide.BUY, D(100), idempotency_key="n2"), "t", "manual",
                  LOOSE).accepted  # 200 at (100 * 100 + 100 * 120) / 200 = 110
    sync_from_broker(ctx)
    ctx.clock.advance(60)  # type: ignore[attr-defined]  # a ManualClock
    on_market_tick(ctx, [])
    [second] = _native_stops(server)
    assert first.status == "canceled" and (second.qty, second.stop_price) == (D(200), D(99))  # 110 * 0.9
    with ctx.store.read() as s:
        stored = s.scalars(select(OrderRow).where(OrderRow.client_order_id == second.client_order_id)).one()
    assert (stored.order_type, stored.qty, stored.status) == ("stop", D(200), "new")
