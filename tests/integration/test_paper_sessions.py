"""The paper broker keeps Alpaca's session when the market is Alpaca's (XNYS): orders only in the session
(limit orders in extended hours when configured) and DAY orders expire at the close.

Hand-computed times: on Monday 2026-03-02 (EST, UTC-5) the session is 14:30-21:00 UTC, extended hours
09:00-01:00 UTC.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from engine.clock import ManualClock
from engine.market.exchange import alpaca_calendar
from engine.market.types import Bar
from engine.trading.brokers.base import OrderRequest, OrderSide, OrderStatus, OrderType
from engine.trading.brokers.paper import PaperBroker
from tests.trading_control_fixtures import make_store, seed_market

D = Decimal


def utc(*a: int) -> datetime:
    return datetime(*a, tzinfo=UTC)


def broker(tmp_path, url: str, clock: ManualClock, extended: bool = False) -> PaperBroker:
    store = make_store(tmp_path, url)
    seed_market(store, clock)
    return PaperBroker(store, clock, starting_cash=D(1_000_000), slippage_bps=D(0), commission_per_share=D(0),
                       participation=D(1), calendar=alpaca_calendar(), extended_hours=extended)


def test_orders_only_in_the_session_and_day_orders_expire_at_the_close(tmp_path, any_db_url: str) -> None:
    clock = ManualClock(utc(2026, 3, 2, 15, 0))  # 10:00 New York
    b = broker(tmp_path, any_db_url, clock)
    assert b.is_market_open() and b.accepts_orders_now()
    resting = b.submit_order(OrderRequest("day-1", "AAA", OrderSide.BUY, D(5), OrderType.LIMIT, D("50")))
    assert resting.status is OrderStatus.NEW
    clock.advance(utc(2026, 3, 2, 20, 59) - clock.now())
    assert b.process_bars([]) == [] and b.get_order_by_client_id("day-1").status is OrderStatus.NEW
    clock.advance(60)  # 21:00 UTC = 16:00 New York: the close
    after = Bar("AAA", utc(2026, 3, 2, 21, 0), 40, 41, 39, 40, 1_000_000)  # after-hours bar: would fill the 50 limit
    assert b.process_bars([after]) == [], "a bar after the order's session never fills it"
    assert b.get_order_by_client_id("day-1").status is OrderStatus.EXPIRED
    assert not b.accepts_orders_now()
    late = b.submit_order(OrderRequest("late-1", "AAA", OrderSide.BUY, D(5)))
    assert late.status is OrderStatus.REJECTED and "market is closed (XNYS" in (late.reject_reason or "")


def test_the_last_session_minute_still_fills_when_its_bar_arrives_after_the_close(tmp_path, any_db_url: str) -> None:
    clock = ManualClock(utc(2026, 3, 2, 20, 30))
    b = broker(tmp_path, any_db_url, clock)
    b.submit_order(OrderRequest("last-1", "AAA", OrderSide.BUY, D(5), OrderType.LIMIT, D("50")))
    clock.advance(utc(2026, 3, 2, 21, 0, 5) - clock.now())  # the 20:59 bar is delivered at 21:00:05
    fills = b.process_bars([Bar("AAA", utc(2026, 3, 2, 20, 59), 40, 41, 39, 40, 1_000_000)])
    assert [(f.qty, f.price) for f in fills] == [(D(5), D(40))], "limit 50 against the bar's 40 open"
    assert b.get_order_by_client_id("last-1").status is OrderStatus.FILLED


def test_extended_hours_take_limit_orders_until_20_00_new_york(tmp_path, any_db_url: str) -> None:
    clock = ManualClock(utc(2026, 3, 2, 22, 0))  # 17:00 New York: after-hours
    b = broker(tmp_path, any_db_url, clock, extended=True)
    market = b.submit_order(OrderRequest("x-1", "AAA", OrderSide.BUY, D(1)))
    assert market.status is OrderStatus.REJECTED and "only limit orders" in (market.reject_reason or "")
    limit = b.submit_order(OrderRequest("x-2", "AAA", OrderSide.BUY, D(1), OrderType.LIMIT, D("50")))
    assert limit.status is OrderStatus.NEW and b.accepts_orders_now()
    clock.advance(timedelta(hours=2, minutes=59))  # 00:59 UTC = 19:59 New York
    b.process_bars([])
    assert b.get_order_by_client_id("x-2").status is OrderStatus.NEW
    clock.advance(60)  # 20:00 New York: after-hours end
    b.process_bars([])
    assert b.get_order_by_client_id("x-2").status is OrderStatus.EXPIRED
    again = b.submit_order(OrderRequest("x-3", "AAA", OrderSide.BUY, D(1), OrderType.LIMIT, D("50")))
    assert again.status is OrderStatus.REJECTED and "outside extended hours" in (again.reject_reason or "")


def test_without_an_exchange_the_paper_broker_trades_every_minute(tmp_path, any_db_url: str) -> None:
    clock = ManualClock(utc(2026, 3, 7, 3, 0))  # a Saturday night: the simulated market has no sessions
    store = make_store(tmp_path, any_db_url)
    seed_market(store, clock)
    b = PaperBroker(store, clock)
    assert b.calendar is None and b.is_market_open()
    assert b.submit_order(OrderRequest("sim-1", "AAA", OrderSide.BUY, D(1))).status is OrderStatus.NEW
