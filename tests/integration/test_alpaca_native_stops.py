"""Broker-side (native) protective orders on Alpaca over real HTTP to the fake server (alpaca-py not mocked),
on SQLite and PostgreSQL: placed through the gateway, fired by the fake's price path, kept in step with the
stop and the position, canceled with the position or by the kill switch; the engine's check as fallback.

Expected levels are worked by hand in the comments, never read back from the code under test."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from components.execution_panels import stops_table
from engine.clock import ManualClock
from engine.context import EngineContext
from engine.execution.protect import attach_stop, cancel_stop, live_stops
from engine.execution.stops import StopSpec
from engine.execution.tick import on_market_tick
from engine.market.types import Bar
from engine.settings import load_settings
from engine.store.migrate import open_store
from engine.store.models import AuditEvent, FillRow, OrderRow, PositionRow, ProtectiveStop
from engine.trading import control
from engine.trading.brokers.alpaca import AlpacaBroker
from engine.trading.brokers.base import OrderSide
from engine.trading.gateway import OrderIntent, submit
from engine.trading.sync import sync_from_broker
from tests.fake_alpaca import FakeAlpacaServer
from tests.fake_alpaca.book import FakeOrder
from tests.trading_control_fixtures import T0, seed_market

D = Decimal
SYM = "AAPL"


@pytest.fixture
def server() -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer() as srv:
        yield srv


@pytest.fixture
def ctx(tmp_path, any_db_url: str, server: FakeAlpacaServer) -> Iterator[EngineContext]:
    store = open_store(any_db_url, migrate=True)
    clock = ManualClock(T0)
    seed_market(store, clock, symbols=(SYM,), price=100.0)
    broker = AlpacaBroker(server.key_id, server.secret_key, paper=True, url_override=server.url, timeout_s=2.0,
                          retry_wait_s=0.01, retry_max_wait_s=0.05, sdk_retry_wait_s=0.05)
    settings = load_settings(database_url=any_db_url, market_source="csv", csv_dir=tmp_path)
    context = EngineContext(settings=settings, store=store, clock=clock, broker=broker, source=None)
    yield context
    store.dispose()


def hold(ctx: EngineContext, server: FakeAlpacaServer, qty: str, avg: str, price: str) -> None:
    server.book.set_position(SYM, D(qty), D(avg))
    server.book.prices[SYM] = D(price)
    sync_from_broker(ctx)


def tick(ctx: EngineContext, low: float | None = None) -> None:
    """One market tick; `low` gives the engine a bar reaching that price (the broker's book is not moved)."""
    ctx.clock.advance(timedelta(minutes=1))  # type: ignore[attr-defined]
    bars = [] if low is None else [Bar(SYM, ctx.clock.now(), 100.0, 100.0, low, low, 1000)]
    on_market_tick(ctx, bars)


def natives(server: FakeAlpacaServer, open_only: bool = True) -> list[FakeOrder]:
    with server.book.lock:
        found = [o for o in server.book.orders.values() if o.order_type in ("stop", "trailing_stop")]
    return [o for o in found if o.status == "new"] if open_only else found


def stop_row(ctx: EngineContext) -> ProtectiveStop:
    with ctx.store.read() as s:
        return s.scalars(select(ProtectiveStop).order_by(ProtectiveStop.id.desc()).limit(1)).one()


def checked_by(ctx: EngineContext) -> str:
    with ctx.store.read() as s:
        [view] = live_stops(s)
    assert str(view["checked_by"]) in str(stops_table([view], can_edit=False)), "the Trading page shows it"
    return str(view["checked_by"])


def engine_exits(ctx: EngineContext) -> list[OrderRow]:
    with ctx.store.read() as s:
        return list(s.scalars(select(OrderRow).where(OrderRow.origin == "stop", OrderRow.order_type == "market")))


def test_a_stop_loss_becomes_a_native_stop_and_a_gap_fills_at_the_gap_price(ctx, server) -> None:
    hold(ctx, server, "100", "98.76", "100")
    attach_stop(ctx, SYM, StopSpec(stop_loss_pct=D(3)), "alice")
    tick(ctx)
    # 98.76 * (1 - 3/100) = 95.7972 -> a sell stop rounds up to the cent (never looser): 95.80
    [order] = natives(server)
    assert (order.order_type, order.side, order.qty, order.stop_price, order.time_in_force) == \
        ("stop", "sell", D(100), D("95.80"), "gtc")
    row = stop_row(ctx)
    assert row.native_order_id == order.client_order_id
    with ctx.store.read() as s:
        stored = s.scalars(select(OrderRow).where(OrderRow.client_order_id == order.client_order_id)).one()
        actions = [a.action for a in s.scalars(select(AuditEvent).where(AuditEvent.target == SYM))]
    assert (stored.order_type, stored.origin, stored.status) == ("stop", "stop", "new")
    assert "order.submit" in actions and "stop.native" in actions
    assert checked_by(ctx) == "broker (stop order)"
    server.book.move_price(SYM, D("97"))
    assert natives(server) == [order], "97 is above the stop"
    server.book.move_price(SYM, D("94"))  # gaps from 97 through 95.80: the stop fills at 94, not at 95.80
    assert order.status == "filled" and order.filled_avg_price == D(94)
    sync_from_broker(ctx)
    tick(ctx)
    with ctx.store.read() as s:
        fills = [(f.side, f.qty, f.price) for f in s.scalars(select(FillRow))]
        pos = s.get(PositionRow, SYM)
    assert fills == [("sell", D(100), D(94))]
    assert pos is None or pos.qty == 0
    row = stop_row(ctx)
    assert (row.status, row.trigger_kind, row.trigger_price, row.exit_client_order_id) == \
        ("done", "stop_loss", D(94), order.client_order_id)
    assert engine_exits(ctx) == [], "the engine never sent its own exit"


def test_a_trailing_stop_tracks_the_high_water_mark_and_fires_at_the_hand_computed_level(ctx, server) -> None:
    hold(ctx, server, "100", "100", "100")
    attach_stop(ctx, SYM, StopSpec(trail_pct=D(5), take_profit_pct=D(50)), "alice")
    tick(ctx)
    [order] = natives(server)
    assert checked_by(ctx) == "broker (trailing stop) + engine (the other exits)"
    assert (order.order_type, order.trail_percent, order.qty, order.time_in_force) == ("trailing_stop", D(5), D(100),
                                                                                         "gtc")
    assert order.stop_price == D(95)  # hwm 100 at placement: 100 * 0.95
    for price in ("104", "110", "120", "116", "114.5"):
        server.book.move_price(SYM, D(price))
    assert order.status == "new" and order.hwm == D(120) and order.stop_price == D(114)  # 120 * 0.95 = 114
    server.book.move_price(SYM, D("114"))
    assert order.status == "filled" and order.filled_avg_price == D(114)
    sync_from_broker(ctx)
    tick(ctx)
    row = stop_row(ctx)
    assert (row.status, row.trigger_kind, row.trigger_price) == ("done", "trailing", D(114))
    assert engine_exits(ctx) == []


def test_the_engine_check_stands_back_while_the_native_stop_lives_and_acts_once_it_is_canceled(ctx, server) -> None:
    hold(ctx, server, "100", "100", "100")
    attach_stop(ctx, SYM, StopSpec(stop_loss_pct=D(5)), "alice")  # level 100 * 0.95 = 95
    tick(ctx)
    [order] = natives(server)
    assert checked_by(ctx) == "broker (stop order)"
    tick(ctx, low=94.0)  # the engine sees 94, below 95; the native order is live at the broker
    assert engine_exits(ctx) == [], "no second sell while the broker's stop is live"
    server.book.cancel(order.id)  # canceled at the broker (e.g. by hand in Alpaca's console)
    sync_from_broker(ctx)
    assert checked_by(ctx) == "engine"
    tick(ctx, low=94.0)
    exits = engine_exits(ctx)
    assert [(o.side, o.qty, o.status) for o in exits] == [("sell", D(100), "filled")]
    assert natives(server) == [], "no new native stop for a stop that has fired"
    assert len(server.book.orders_for(exits[0].client_order_id)) == 1


def test_changing_the_stop_or_the_position_replaces_the_native_order(ctx, server) -> None:
    hold(ctx, server, "100", "100", "100")
    attach_stop(ctx, SYM, StopSpec(stop_loss_pct=D(5)), "alice")
    tick(ctx)
    [first] = natives(server)
    attach_stop(ctx, SYM, StopSpec(stop_loss_pct=D(2)), "alice")  # 100 * 0.98 = 98
    tick(ctx)
    [second] = natives(server)
    assert first.status == "canceled" and second.stop_price == D(98) and second.qty == D(100)
    server.book.submit({"symbol": SYM, "qty": "50", "side": "buy", "type": "market", "time_in_force": "day"})
    sync_from_broker(ctx)  # 150 shares now
    tick(ctx)
    [third] = natives(server)
    assert second.status == "canceled" and (third.qty, third.stop_price) == (D(150), D(98))
    assert stop_row(ctx).native_order_id == third.client_order_id


def test_closing_the_position_or_removing_the_stop_cancels_the_native_order(ctx, server) -> None:
    hold(ctx, server, "100", "100", "100")
    attach_stop(ctx, SYM, StopSpec(trail_pct=D(5)), "alice")
    tick(ctx)
    [order] = natives(server)
    # Alpaca holds the 100 shares for the stop: the gateway cancels it first, else this sell is refused
    result = submit(ctx, OrderIntent(SYM, OrderSide.SELL, D(100), reason="close", idempotency_key="close-1"),
                    actor="alice", origin="manual")
    assert result.accepted, result.reason
    assert order.status == "canceled" and server.book.positions.get(SYM) is None
    sync_from_broker(ctx)
    tick(ctx)
    assert natives(server) == [] and stop_row(ctx).status == "done"
    server.book.move_price(SYM, D(50))
    assert server.book.positions.get(SYM) is None, "no stop left to sell a position that is gone"

    hold(ctx, server, "10", "100", "100")
    attach_stop(ctx, SYM, StopSpec(trail_pct=D(5)), "alice")
    tick(ctx)
    [again] = natives(server)
    cancel_stop(ctx, SYM, "alice")
    tick(ctx)
    assert again.status == "canceled" and natives(server) == []


def test_the_kill_switch_cancels_native_stops_and_none_fires_after_a_flatten(ctx, server) -> None:
    hold(ctx, server, "100", "100", "100")
    attach_stop(ctx, SYM, StopSpec(stop_loss_pct=D(5)), "alice")
    tick(ctx)
    [order] = natives(server)
    result = control.perform(ctx, "alice", "kill_switch", reason="test", execute="here")
    assert result.status == "done", result.message
    assert order.status == "canceled" and natives(server) == []
    tick(ctx)
    assert natives(server) == [], "HALTED: no native stop is placed again"
    result = control.perform(ctx, "alice", "halt", reason="flatten", flatten=True, execute="here")
    assert result.status == "done", result.message
    assert server.book.positions.get(SYM) is None
    server.book.move_price(SYM, D(80))  # far through the old stop at 95
    assert server.book.positions.get(SYM) is None and natives(server, open_only=False) == [order]


def test_an_engine_side_take_profit_cancels_the_native_stop_before_it_sells(ctx, server) -> None:
    hold(ctx, server, "100", "100", "100")
    attach_stop(ctx, SYM, StopSpec(trail_pct=D(5), take_profit_pct=D(10)), "alice")  # take-profit at 110
    tick(ctx)
    [order] = natives(server)
    server.book.move_price(SYM, D(111))  # the trailing stop's high-water mark moves to 111; nothing fires
    ctx.clock.advance(timedelta(minutes=1))  # type: ignore[attr-defined]
    on_market_tick(ctx, [Bar(SYM, ctx.clock.now(), 100.0, 111.0, 100.0, 111.0, 1000)])  # the engine sees 111 >= 110
    exits = engine_exits(ctx)
    assert [(o.side, o.qty, o.status) for o in exits] == [("sell", D(100), "filled")]
    assert order.status == "canceled", "Alpaca holds the shares for the stop: it is canceled before the sale"
    assert server.book.positions.get(SYM) is None and natives(server) == []
    server.book.move_price(SYM, D(90))
    assert server.book.positions.get(SYM) is None, "no stop left to open a short"
