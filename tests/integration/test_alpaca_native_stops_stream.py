"""A native trailing stop covering a short, placed while REDUCING, fired by the fake's price path and recorded
from Alpaca's trade_updates stream (real websocket + HTTP on 127.0.0.1), on SQLite and PostgreSQL.

Levels worked by hand in the comments."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from engine.clock import ManualClock
from engine.context import EngineContext
from engine.execution.protect import attach_stop
from engine.execution.stops import StopSpec
from engine.execution.tick import on_market_tick
from engine.settings import load_settings
from engine.store.migrate import open_store
from engine.store.models import FillRow, OrderRow, ProtectiveStop
from engine.trading import state as ts
from engine.trading.brokers.alpaca import AlpacaBroker
from engine.trading.brokers.alpaca_stream import AlpacaTradeUpdates
from engine.trading.state import TradingState
from engine.trading.sync import sync_from_broker
from engine.trading.trade_updates import TradeUpdatesApplier
from tests.fake_alpaca import FakeAlpacaServer
from tests.trading_control_fixtures import T0, seed_market
from tests.waiting import wait_for

D = Decimal
SYM = "AAA"


@pytest.fixture
def server() -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer(stream=True) as srv:
        yield srv


@pytest.fixture
def ctx(tmp_path, any_db_url: str, server: FakeAlpacaServer) -> Iterator[EngineContext]:
    store = open_store(any_db_url, migrate=True)
    clock = ManualClock(T0)
    seed_market(store, clock, symbols=(SYM,), price=100.0)
    broker = AlpacaBroker(server.key_id, server.secret_key, url_override=server.url, timeout_s=2.0)
    settings = load_settings(database_url=any_db_url, market_source="csv", csv_dir=tmp_path)
    yield EngineContext(settings=settings, store=store, clock=clock, broker=broker, source=None)
    store.dispose()


def tick(ctx: EngineContext) -> None:
    ctx.clock.advance(timedelta(minutes=1))  # type: ignore[attr-defined]
    on_market_tick(ctx, [])


def test_a_short_s_native_trailing_stop_fires_and_the_stream_records_it(ctx, server) -> None:
    assert server.stream is not None
    server.book.set_position(SYM, D(-100), D(100))
    server.book.prices[SYM] = D(100)
    sync_from_broker(ctx)
    with ctx.store.write() as s:
        ts.change(s, ctx.clock.now(), TradingState.REDUCING, "alice", "test: a protective order still goes out")
    attach_stop(ctx, SYM, StopSpec(trail_pct=D(5)), "alice")
    tick(ctx)
    [order] = server.book.open_orders()
    # covering a short: a buy trailing stop; low-water mark 100 at placement, stop 100 * 1.05 = 105
    assert (order.order_type, order.side, order.qty, order.stop_price) == ("trailing_stop", "buy", D(100), D(105))
    applier = TradeUpdatesApplier(ctx, catch_up=lambda: sync_from_broker(ctx))
    stream = AlpacaTradeUpdates(server.key_id, server.secret_key, applier.on_update, url_override=server.stream_url,
                                on_connect=applier.on_connect)
    stream.start()
    try:
        assert wait_for(lambda: server.stream.client_count() == 1 and stream.connections == 1, 10.0)
        for price in ("96", "90", "93"):  # low-water 90: stop 90 * 1.05 = 94.50
            server.book.move_price(SYM, D(price))
        assert order.status == "new" and order.stop_price == D("94.5")
        server.book.move_price(SYM, D("94.5"))
        assert order.status == "filled" and order.filled_avg_price == D("94.5")

        def recorded() -> bool:
            with ctx.store.read() as s:
                return s.scalars(select(OrderRow.status).where(
                    OrderRow.client_order_id == order.client_order_id)).one() == "filled"
        assert wait_for(recorded, 10.0), "the fill reached the store from the stream, without a sync"
    finally:
        stream.stop()
    tick(ctx)
    with ctx.store.read() as s:
        stop = s.scalars(select(ProtectiveStop)).one()
    assert (stop.status, stop.trigger_kind, stop.trigger_price) == ("triggered", "trailing", D("94.5"))
    sync_from_broker(ctx)  # fills come from Alpaca's account activities (alpaca_stream.py says why)
    tick(ctx)
    with ctx.store.read() as s:
        assert [(f.side, f.qty, f.price) for f in s.scalars(select(FillRow))] == [("buy", D(100), D("94.5"))]
        assert s.scalars(select(ProtectiveStop.status)).one() == "done"
        assert list(s.scalars(select(OrderRow).where(OrderRow.order_type == "market"))) == [], "no engine exit"
