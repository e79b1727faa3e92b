"""On an early-close day (Friday 2026-11-27: XNYS closes 13:00 New York = 18:00 UTC) Alpaca's after-hours ends at
17:00 New York (22:00 UTC), the close + 4 h. Both brokers keep that one rule: the paper broker (store on SQLite and
PostgreSQL) and the Alpaca broker over real HTTP to the fake Alpaca on 127.0.0.1 refuse an extended-hours limit
order from 17:00 and send one before it; a paper order sent in after-hours expires at 17:00."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from engine.clock import ManualClock
from engine.market.exchange import alpaca_calendar
from engine.trading.brokers.alpaca import AlpacaBroker
from engine.trading.brokers.alpaca_limits import RateLimiter
from engine.trading.brokers.base import OrderRejected, OrderRequest, OrderSide, OrderStatus, OrderType
from engine.trading.brokers.paper import PaperBroker
from tests.fake_alpaca import FakeAlpacaServer
from tests.trading_control_fixtures import make_store, seed_market

D = Decimal
KEY, SECRET = "audit-key", "audit-secret"
AFTER_HOURS = datetime(2026, 11, 27, 21, 30, tzinfo=UTC)  # 16:30 New York: after the 13:00 close
ENDS = datetime(2026, 11, 27, 22, 0, tzinfo=UTC)  # 17:00 New York: 13:00 close + 4 h
LATE = datetime(2026, 11, 27, 23, 30, tzinfo=UTC)  # 18:30 New York: the old code still sent orders here


def limit(coid: str) -> OrderRequest:
    return OrderRequest(coid, "AAA", OrderSide.BUY, D(1), OrderType.LIMIT, D("50"))


def paper(tmp_path, url: str, clock: ManualClock) -> PaperBroker:  # type: ignore[no-untyped-def]
    store = make_store(tmp_path, url)
    seed_market(store, clock)
    return PaperBroker(store, clock, starting_cash=D(1_000_000), slippage_bps=D(0), commission_per_share=D(0),
                       participation=D(1), calendar=alpaca_calendar(), extended_hours=True)


def test_paper_after_hours_end_at_17_00_on_an_early_close(tmp_path, any_db_url: str) -> None:
    clock = ManualClock(AFTER_HOURS)
    b = paper(tmp_path, any_db_url, clock)
    assert b.accepts_orders_now()
    assert b.submit_order(limit("ec-1")).status is OrderStatus.NEW
    clock.advance(ENDS - clock.now() - timedelta(seconds=1))  # 16:59:59
    b.process_bars([])
    assert b.get_order_by_client_id("ec-1").status is OrderStatus.NEW
    clock.advance(timedelta(seconds=1))  # 17:00: the order's after-hours session ends
    b.process_bars([])
    assert b.get_order_by_client_id("ec-1").status is OrderStatus.EXPIRED
    assert not b.accepts_orders_now()
    refused = b.submit_order(limit("ec-2"))
    assert refused.status is OrderStatus.REJECTED and "outside extended hours" in (refused.reject_reason or "")
    clock.advance(LATE - clock.now())
    assert b.submit_order(limit("ec-3")).status is OrderStatus.REJECTED


@pytest.fixture
def server() -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as srv:
        srv.book.market_open = False
        srv.book.next_open = datetime(2026, 11, 30, 14, 30, tzinfo=UTC)
        yield srv


def alpaca(srv: FakeAlpacaServer, clock: ManualClock) -> AlpacaBroker:
    return AlpacaBroker(KEY, SECRET, paper=True, url_override=srv.url, timeout_s=0.5, retry_wait_s=0.01,
                        retry_max_wait_s=0.05, deadline_s=1.0, limiter=RateLimiter(per_minute=60_000, burst=1000),
                        clock=clock, extended_hours=True)


def test_alpaca_sends_no_extended_hours_order_after_17_00_on_an_early_close(server: FakeAlpacaServer) -> None:
    clock = ManualClock(AFTER_HOURS)
    server.book.clock_now = AFTER_HOURS
    b = alpaca(server, clock)
    assert b.order_session(OrderType.LIMIT)[0]
    assert b.submit_order(limit("ea-1")).status is OrderStatus.NEW
    assert server.book.orders_for("ea-1")[0].extended_hours is True
    for when in (ENDS, LATE):
        clock.advance(when - clock.now())
        server.book.clock_now = when
        assert b.order_session(OrderType.LIMIT)[0] is False and not b.accepts_orders_now()
        with pytest.raises(OrderRejected, match="outside Alpaca's extended hours"):
            b.submit_order(limit(f"ea-{when:%H%M}"))
    assert server.hits_for("POST", "/v2/orders") == 1, "only the 16:30 order reached Alpaca"
