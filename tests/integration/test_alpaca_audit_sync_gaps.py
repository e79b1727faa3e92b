"""Gaps between the store and Alpaca the sync and reconciliation used to leave open for good (audit 4).

Real HTTP to the fake Alpaca server, a real store (SQLite and PostgreSQL). The engine's clock starts at the real
now because the fake stamps orders and fills with the real time, as Alpaca does.
"""
from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from engine.context import EngineContext
from engine.store.models import FillRow, OrderRow
from engine.trading.brokers import alpaca_history
from engine.trading.brokers.base import OrderSide, OrderType
from engine.trading.control_steps import cancel_order
from engine.trading.gateway import OrderIntent, submit
from engine.trading.order_checks import MAX_LOOKUPS
from engine.trading.orders import open_order_deltas
from engine.trading.reconcile import accept_broker_truth, reconcile
from engine.trading.sync import sync_from_broker
from tests.fake_alpaca import FakeAlpacaServer
from tests.fake_alpaca.book import FakeOrder
from tests.trading_control_fixtures import LOOSE, alpaca_fixtures

D = Decimal

server, ctx = alpaca_fixtures()


def _buy(ctx: EngineContext, key: str, qty: int, limit: Decimal | None = None, tif: str = "day") -> str:
    kind = OrderType.MARKET if limit is None else OrderType.LIMIT
    out = submit(ctx, OrderIntent("AAA", OrderSide.BUY, D(qty), kind, limit, reason="test", idempotency_key=key,
                                  time_in_force=tif), "planner", "planner", LOOSE)
    assert out.accepted, out.reason
    return out.client_order_id


def _row(ctx: EngineContext, coid: str) -> tuple[str, Decimal, Decimal]:
    """(status, filled_qty, sum of the recorded fills) of one stored order."""
    with ctx.store.read() as s:
        r = s.scalars(select(OrderRow).where(OrderRow.client_order_id == coid)).one()
        fills = s.scalar(select(func.coalesce(func.sum(FillRow.qty), 0)).where(FillRow.client_order_id == coid))
        return r.status, D(r.filled_qty), D(fills)


def _sync(ctx: EngineContext, seconds: int = 10) -> None:
    ctx.clock.advance(timedelta(seconds=seconds))
    sync_from_broker(ctx, LOOSE)


# ---- 1: an order older than the sync's lookback, canceled at Alpaca without an event we saw --------------------
def test_old_gtc_order_canceled_at_alpaca_is_closed_by_the_next_sync(ctx: EngineContext,
                                                                      server: FakeAlpacaServer) -> None:
    reconcile(ctx, LOOSE, retry_delay_s=0)  # the baseline
    coid = _buy(ctx, "old-gtc", 5, D(60), "gtc")
    [order] = server.book.open_orders()
    order.created_at = order.updated_at = datetime.now(UTC) - timedelta(days=8)  # resting for 8 days
    _sync(ctx)
    assert _row(ctx, coid)[0] == "new"
    server.book.cancel(order.id)  # in Alpaca's web UI, while our stream was down
    _sync(ctx)
    assert _row(ctx, coid) == ("canceled", D(0), D(0))
    with ctx.store.read() as s:
        assert open_order_deltas(s) == {}
    report = reconcile(ctx, LOOSE, retry_delay_s=0)
    assert report.ok, report.differences


def test_old_orders_are_looked_up_a_bounded_number_per_sync(ctx: EngineContext, server: FakeAlpacaServer) -> None:
    coids = [_buy(ctx, f"old-{i}", 1, D(60), "gtc") for i in range(MAX_LOOKUPS + 2)]
    for o in server.book.open_orders():
        o.created_at = o.updated_at = datetime.now(UTC) - timedelta(days=8)
    _sync(ctx)
    for o in server.book.open_orders():
        server.book.cancel(o.id)
    before = server.hits_for("GET", "/v2/orders:by_client_order_id")
    _sync(ctx)
    assert server.hits_for("GET", "/v2/orders:by_client_order_id") - before == MAX_LOOKUPS
    assert sorted(_row(ctx, c)[0] for c in coids) == ["canceled"] * MAX_LOOKUPS + ["new"] * 2
    _sync(ctx)  # the two not checked yet come first now
    assert {_row(ctx, c)[0] for c in coids} == {"canceled"}


def test_reconcile_looks_up_an_order_missing_at_alpaca_before_reporting_it(ctx: EngineContext,
                                                                            server: FakeAlpacaServer) -> None:
    reconcile(ctx, LOOSE, retry_delay_s=0)
    coid = _buy(ctx, "old-rec", 5, D(60), "gtc")
    [order] = server.book.open_orders()
    order.created_at = order.updated_at = datetime.now(UTC) - timedelta(days=8)
    _sync(ctx)
    # canceled right after reconcile's own sync read its orders: only reconcile's look at Alpaca sees it
    server.on_request("GET", "/v2/positions", 2, lambda: server.book.cancel(order.id))
    ctx.clock.advance(timedelta(seconds=10))
    report = reconcile(ctx, LOOSE, retry_delay_s=0)
    assert report.ok, report.differences
    assert _row(ctx, coid)[0] == "canceled"


# ---- 2: a cancel Alpaca accepted (204) and then refused -------------------------------------------------------
def test_cancel_refused_after_204_reopens_the_order(ctx: EngineContext, server: FakeAlpacaServer) -> None:
    server.book.async_cancel = True
    coid = _buy(ctx, "refused", 10, D(99), "gtc")
    [order] = server.book.open_orders()
    cancel_order(ctx, "alice", {"order_id": coid})
    assert order.status == "pending_cancel" and _row(ctx, coid)[0] == "canceled"
    server.book.reject_cancel(order.id)  # order_cancel_rejected: it works on
    server.book.fill(order.id, D(4), D(99))
    _sync(ctx)
    assert _row(ctx, coid) == ("partially_filled", D(4), D(4))
    with ctx.store.read() as s:
        assert open_order_deltas(s) == {"AAA": D(6)}
    server.book.cancel(order.id)
    server.book.confirm_cancel(order.id)
    _sync(ctx)
    assert _row(ctx, coid) == ("canceled", D(4), D(4))


def test_cancel_confirmed_by_alpaca_stays_canceled(ctx: EngineContext, server: FakeAlpacaServer) -> None:
    server.book.async_cancel = True
    coid = _buy(ctx, "confirmed", 10, D(99), "gtc")
    [order] = server.book.open_orders()
    cancel_order(ctx, "alice", {"order_id": coid})
    server.book.confirm_cancel(order.id)
    _sync(ctx)
    assert _row(ctx, coid) == ("canceled", D(0), D(0))
    with ctx.store.read() as s:
        row = s.scalars(select(OrderRow).where(OrderRow.client_order_id == coid)).one()
        assert row.reject_reason is None  # the broker's word now, not our request
    order.status = "new"  # a stale or wrong view after Alpaca confirmed: the cancel stands
    order.updated_at = datetime.now(UTC)
    _sync(ctx)
    assert _row(ctx, coid)[0] == "canceled"


# ---- 3: the starting book and a fill landing while reconcile reads Alpaca ----------------------------------------
@pytest.mark.parametrize("nth_account_read", [1, 2, 3])
def test_first_reconcile_counts_a_fill_landing_during_its_reads_once(ctx: EngineContext, server: FakeAlpacaServer,
                                                                      nth_account_read: int) -> None:
    _buy(ctx, "race", 5, D(99))
    [order] = server.book.open_orders()
    server.on_request("GET", "/v2/account", nth_account_read, lambda: server.book.fill(order.id, D(5), D(99)))
    first = reconcile(ctx, LOOSE, retry_delay_s=0)
    assert first.baseline_adopted
    ctx.clock.advance(timedelta(seconds=5))
    report = reconcile(ctx, LOOSE, retry_delay_s=0)
    assert report.ok, report.differences  # book 5 AAA = Alpaca 5 AAA; cash 100,000 - 495 both


def test_accepting_broker_truth_before_the_sync_saw_a_fill_counts_it_once(ctx: EngineContext,
                                                                           server: FakeAlpacaServer) -> None:
    reconcile(ctx, LOOSE, retry_delay_s=0)
    _buy(ctx, "accept", 5)  # filled at 100 at once at Alpaca; no sync since
    accept_broker_truth(ctx, "admin", "the broker is right")
    ctx.clock.advance(timedelta(seconds=5))
    report = reconcile(ctx, LOOSE, retry_delay_s=0)
    assert report.ok, report.differences


# ---- 4: a FILL activity Alpaca posts late --------------------------------------------------------------------
def test_fill_activity_posted_late_is_recorded(ctx: EngineContext, server: FakeAlpacaServer) -> None:
    reconcile(ctx, LOOSE, retry_delay_s=0)
    coid = _buy(ctx, "late", 5)
    late = server.book.activities.pop()  # not listed yet
    for _ in range(3):
        _sync(ctx, 20)
    assert _row(ctx, coid) == ("filled", D(5), D(0))
    server.book.activities.append(late)  # listed 60 s after the execution
    for _ in range(3):  # an order short of fills is re-read at most once a minute (order_checks.RECHECK)
        _sync(ctx, 20)
    assert _row(ctx, coid) == ("filled", D(5), D(5))
    report = reconcile(ctx, LOOSE, retry_delay_s=0)
    assert report.ok, report.differences


# ---- 6: the sync's cost in requests and its limit ---------------------------------------------------------------
def _add_orders(server: FakeAlpacaServer, n: int, start: datetime) -> None:
    for i in range(n):
        t = start + timedelta(seconds=i * 10)
        o = FakeOrder(id=str(uuid.uuid4()), client_order_id=f"old-{uuid.uuid4().hex}", symbol="AAA", side="buy",
                      qty=D(1), order_type="limit", time_in_force="day", limit_price=D(50), status="canceled",
                      created_at=t, updated_at=t)
        server.book.orders[o.id] = o


def test_one_sync_lists_the_order_window_and_the_fills_once(ctx: EngineContext, server: FakeAlpacaServer) -> None:
    _add_orders(server, 700, datetime.now(UTC) - timedelta(days=6))  # two pages of 500
    _sync(ctx)
    _buy(ctx, "cost", 1)  # a fill since the last sync
    before_orders = server.hits_for("GET", "/v2/orders")
    before_fills = server.hits_for("GET", "/v2/account/activities/FILL")
    _sync(ctx)
    assert server.hits_for("GET", "/v2/orders") - before_orders == 2  # the window's two pages, once
    assert server.hits_for("GET", "/v2/account/activities/FILL") - before_fills == 1


def test_sync_past_the_page_cap_reads_the_newest_orders_and_warns(ctx: EngineContext, server: FakeAlpacaServer,
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(alpaca_history, "MAX_PAGES", 2)  # 1,000 orders instead of 20,000: the same rule
    _add_orders(server, 1200, datetime.now(UTC) - timedelta(days=6))
    _sync(ctx)
    coid = _buy(ctx, "newest", 1)
    with caplog.at_level(logging.WARNING):
        _sync(ctx)
    assert _row(ctx, coid) == ("filled", D(1), D(1))
    assert any("newest" in r.getMessage() for r in caplog.records)
