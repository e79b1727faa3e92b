"""Alpaca notional (dollar-amount) orders placed outside RegimeDesk (audit alpaca_market_time, finding 9).

Alpaca sends qty null and notional set. The sync imports the order and estimates its open rest in shares as
(notional - filled_qty * avg) / last price, never negative; the row is flagged as notional. Real HTTP to the fake
Alpaca server, a real store (SQLite and PostgreSQL); the seeded market's last close is 100 for every symbol.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from engine.context import EngineContext
from engine.store.models import OrderRow
from engine.trading.notional import remaining_shares
from engine.trading.orders import open_order_deltas
from engine.trading.sync import sync_from_broker
from tests.fake_alpaca import FakeAlpacaServer
from tests.fake_alpaca.book import FakeOrder
from tests.trading_control_fixtures import LOOSE, alpaca_fixtures

D = Decimal

server, ctx = alpaca_fixtures()


def _sync(ctx: EngineContext) -> None:
    ctx.clock.advance(timedelta(seconds=10))
    sync_from_broker(ctx, LOOSE)


def _app_order(server: FakeAlpacaServer, side: str, notional: str, at: datetime) -> FakeOrder:
    """A market order for $notional placed in Alpaca's app on the same account."""
    order = FakeOrder(id=str(uuid.uuid4()), client_order_id=f"app-{uuid.uuid4().hex[:8]}", symbol="AAA", side=side,
                      qty=D(0), order_type="market", time_in_force="day", limit_price=None, status="new",
                      created_at=at, updated_at=at, notional=D(notional))
    with server.book.lock:
        server.book.orders[order.id] = order
    return order


def _work(ctx: EngineContext, server: FakeAlpacaServer, order: FakeOrder, filled: str, avg: str, status: str) -> None:
    with server.book.lock:
        order.filled_qty, order.filled_avg_price, order.status = D(filled), D(avg), status
        order.qty, order.updated_at = D(filled), ctx.clock.now()


def _row(ctx: EngineContext, coid: str) -> tuple[Decimal, Decimal, str, str]:
    with ctx.store.read() as s:
        r = s.scalars(select(OrderRow).where(OrderRow.client_order_id == coid)).one()
        return D(r.qty), D(r.filled_qty), r.status, r.reject_reason or ""


def _deltas(ctx: EngineContext) -> dict[str, Decimal]:
    with ctx.store.read() as s:
        return open_order_deltas(s)


def test_a_notional_buy_counts_its_estimated_open_shares(ctx: EngineContext, server: FakeAlpacaServer) -> None:
    order = _app_order(server, "buy", "50000", ctx.clock.now())
    _sync(ctx)
    qty, filled, status, flag = _row(ctx, order.client_order_id)
    assert (qty, filled, status) == (D(500), D(0), "new")  # 50,000 / 100
    assert flag == "notional order: buy $50,000.00: open shares estimated at the last price 100"
    assert _deltas(ctx) == {"AAA": D(500)}
    _work(ctx, server, order, "120", "101", "partially_filled")  # 12,120 spent: 37,880 / 100 = 378.8 shares to go
    _sync(ctx)
    assert _row(ctx, order.client_order_id)[:3] == (D("498.8"), D(120), "partially_filled")
    assert _deltas(ctx) == {"AAA": D("378.8")}
    _work(ctx, server, order, "495.05", "101", "filled")
    _sync(ctx)
    qty, filled, status, flag = _row(ctx, order.client_order_id)
    assert (qty, filled, status) == (D("495.05"), D("495.05"), "filled")
    assert flag == "notional order: buy $50,000.00 (495.05 shares filled)"
    assert _deltas(ctx) == {}


def test_a_notional_sell_never_counts_a_negative_rest(ctx: EngineContext, server: FakeAlpacaServer) -> None:
    order = _app_order(server, "sell", "1000", ctx.clock.now())
    _sync(ctx)
    assert _deltas(ctx) == {"AAA": D(-10)}
    _work(ctx, server, order, "10.5", "99", "partially_filled")  # 1,039.50 sold: more than the notional, rest 0
    _sync(ctx)
    assert _row(ctx, order.client_order_id)[:2] == (D("10.5"), D("10.5"))
    assert _deltas(ctx) == {"AAA": D(0)}


def test_remaining_shares_by_hand() -> None:
    assert remaining_shares(D(50000), D(120), D(101), D(100)) == D("378.8")
    assert remaining_shares(D(1000), D(0), None, D(3)) == D("333.33333333")  # rounded down to the store's scale
    assert remaining_shares(D(1000), D(11), D(100), D(100)) == D(0)  # overspent: never negative
    assert remaining_shares(D(1000), D(0), None, None) == D(0)  # no price: nothing counted
    assert remaining_shares(D(1000), D(0), None, D(0)) == D(0)
