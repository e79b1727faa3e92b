"""Engine-side protective exits follow the trading session (audit alpaca_market_time finding 2, probe p6).

Alpaca over real HTTP to the fake server (alpaca-py not mocked), the Alpaca market source's XNYS calendar, on
SQLite and PostgreSQL. Wednesday 2026-12-02 and Thursday 2026-12-03 are regular XNYS days in EST (UTC-5): the
regular session is 14:30-21:00 UTC. The position is 100 AAA bought at 100; a 5% take-profit is at
100 * 1.05 = 105.00. Prices are worked by hand in the comments, never read back from the code under test.
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from engine.clock import ManualClock
from engine.context import EngineContext
from engine.execution.protect import StopEvent, attach_stop, check_stops
from engine.execution.stops import StopSpec
from engine.market.alpaca_source import AlpacaMarketSource
from engine.market.types import Bar
from engine.settings import load_settings
from engine.store.migrate import open_store
from engine.store.models import AuditEvent, BarRow, OrderRow, ProtectiveStop
from engine.trading.brokers.alpaca import AlpacaBroker
from engine.trading.sync import sync_from_broker
from tests.fake_alpaca import FakeAlpacaServer
from tests.trading_control_fixtures import LOOSE, seed_market

D = Decimal
SYM = "AAA"
WED = datetime(2026, 12, 2, tzinfo=UTC)
THU_OPEN = datetime(2026, 12, 3, 14, 30, tzinfo=UTC)  # 09:30 New York


def at(hh: int, mm: int, ss: int = 0, day: datetime = WED) -> datetime:
    return day.replace(hour=hh, minute=mm, second=ss)


@pytest.fixture
def server() -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer() as srv:
        yield srv


def engine(tmp_path, url: str, srv: FakeAlpacaServer, start: datetime, market_open: bool) -> EngineContext:
    """An engine on the Alpaca broker and the Alpaca market source (XNYS) at `start`, holding 100 AAA at 100."""
    srv.book.market_open = market_open
    srv.book.next_open, srv.book.next_close = THU_OPEN, at(21, 0, day=THU_OPEN if not market_open else WED)
    srv.book.set_position(SYM, D(100), D(100))
    srv.book.prices[SYM] = D(100)
    store = open_store(url, migrate=True)
    clock = ManualClock(start)
    seed_market(store, clock, symbols=(SYM,), price=100.0)
    broker = AlpacaBroker(srv.key_id, srv.secret_key, paper=True, url_override=srv.url, timeout_s=2.0,
                          retry_wait_s=0.01, retry_max_wait_s=0.05, sdk_retry_wait_s=0.05, clock=clock)
    source = AlpacaMarketSource(srv.key_id, srv.secret_key, [SYM], "SPY", srv.url, clock=clock)
    settings = load_settings(database_url=url, market_source="csv", csv_dir=tmp_path)
    ctx = EngineContext(settings=settings, store=store, clock=clock, broker=broker, source=source)
    sync_from_broker(ctx, LOOSE)
    attach_stop(ctx, SYM, StopSpec(take_profit_pct=D(5)), "alice")
    return ctx


def tick(ctx: EngineContext, now: datetime, bar_ts: datetime, o: float, h: float, lo: float, c: float,
         ) -> list[StopEvent]:
    """The market job at `now`: the bar opened at `bar_ts` is stored, then the stops are checked."""
    ctx.clock.advance(now - ctx.clock.now())  # type: ignore[attr-defined]
    with ctx.store.write() as s:
        s.add(BarRow(symbol=SYM, ts=bar_ts, open=o, high=h, low=lo, close=c, volume=500))
    return check_stops(ctx, [Bar(SYM, bar_ts, o, h, lo, c, 500)])


def stop(ctx: EngineContext) -> ProtectiveStop:
    with ctx.store.read() as s:
        return s.scalars(select(ProtectiveStop).where(ProtectiveStop.symbol == SYM)).one()


def exits(ctx: EngineContext) -> list[OrderRow]:
    with ctx.store.read() as s:
        return list(s.scalars(select(OrderRow).where(OrderRow.origin == "stop").order_by(OrderRow.id)))


def posts(srv: FakeAlpacaServer) -> int:
    return srv.hits_for("POST", "/v2/orders")


def test_an_after_hours_print_through_the_take_profit_sends_nothing(tmp_path, any_db_url, server) -> None:
    ctx = engine(tmp_path, any_db_url, server, at(21, 5), market_open=False)  # 16:05 New York
    try:
        # after-hours bars (21:05-21:08 UTC = 16:05-16:08 New York) reaching 105.5, 106 and 107: all above 105.00
        for minute, high in ((5, 105.5), (6, 106.0), (7, 107.0)):
            assert tick(ctx, at(21, minute + 1, 5), at(21, minute), 100.0, high, 100.0, 100.2) == []
        row = stop(ctx)
        assert (row.status, row.attempts, row.exit_client_order_id, row.triggered_at) == ("active", 0, None, None)
        assert row.extreme_price == D(100), "after-hours highs do not move the marks either"
        assert exits(ctx) == [] and posts(server) == 0
    finally:
        ctx.store.dispose()


def test_the_last_regular_bar_read_after_the_close_waits_for_the_open(tmp_path, any_db_url, server) -> None:
    ctx = engine(tmp_path, any_db_url, server, at(21, 0, 30), market_open=False)
    try:
        # the 20:59 UTC bar (15:59 New York, the session's last) reaches 105.5 >= 105.00, but it is read at 21:00:40
        [event] = tick(ctx, at(21, 0, 40), at(20, 59), 104.0, 105.5, 103.9, 105.2)
        assert event.what == "waiting" and "waiting for the open" in event.detail
        row = stop(ctx)
        assert (row.status, row.attempts, row.triggered_at) == ("active", 0, None)
        assert exits(ctx) == [] and posts(server) == 0, "no market order is sent into a closed session"
        with ctx.store.read() as s:
            assert [a.action for a in s.scalars(select(AuditEvent).where(AuditEvent.action == "stop.waiting"))] == \
                ["stop.waiting"]
    finally:
        ctx.store.dispose()


@pytest.mark.parametrize("still_through", [False, True], ids=["price_left_the_level", "still_through"])
def test_an_exit_refused_by_the_closed_session_waits_and_is_checked_again_at_the_open(
        tmp_path, any_db_url, server, still_through: bool) -> None:
    # 20:59:40 UTC: the XNYS calendar says open, but Alpaca's clock says closed (an unscheduled closure)
    ctx = engine(tmp_path, any_db_url, server, at(20, 59, 30), market_open=False)
    try:
        [event] = tick(ctx, at(20, 59, 40), at(20, 58), 104.0, 105.5, 103.9, 105.2)  # 105.5 >= 105.00
        assert event.what == "waiting", event.detail
        row = stop(ctx)
        assert (row.status, row.attempts, row.triggered_at) == ("active", 0, None), "no attempt burnt"
        [refused] = exits(ctx)
        assert refused.status == "rejected" and "market is closed" in (refused.reject_reason or "")
        assert posts(server) == 0, "Alpaca's session check refused it before the POST"
        # after-hours: 21:00 and 21:01 UTC bars at 106 send nothing
        for minute in (0, 1):
            assert tick(ctx, at(21, minute + 1, 5), at(21, minute), 105.8, 106.0, 105.7, 105.9) == []
        assert len(exits(ctx)) == 1 and stop(ctx).status == "active"
        server.book.market_open, server.book.next_close = True, at(21, 0, day=THU_OPEN)
        if still_through:
            # Thursday's first regular bar opens at 105.6 >= 105.00: gapped through, the exit goes at the open
            [event] = tick(ctx, at(14, 31, 5, THU_OPEN), THU_OPEN, 105.6, 106.0, 105.4, 105.8)
            expected_price = D("105.6")
        else:
            # opens 103.0, high 104.0 < 105.00: the price left the level overnight, nothing is sent
            assert tick(ctx, at(14, 31, 5, THU_OPEN), THU_OPEN, 103.0, 104.0, 102.5, 103.5) == []
            assert (stop(ctx).status, stop(ctx).attempts, posts(server)) == ("active", 0, 0)
            # the next bar's high 105.2 reaches 105.00: the exit goes at the level
            [event] = tick(ctx, at(14, 32, 5, THU_OPEN), at(14, 31, day=THU_OPEN), 103.5, 105.2, 103.4, 105.1)
            expected_price = D("105.00")
        assert event.what == "triggered", event.detail
        row = stop(ctx)
        assert (row.status, row.attempts, row.trigger_kind) == ("triggered", 1, "take_profit")
        assert row.trigger_price == expected_price
        assert posts(server) == 1
        first, sent = exits(ctx)
        assert sent.client_order_id == row.exit_client_order_id != first.client_order_id
        assert (sent.side, sent.qty, sent.order_type, sent.status) == ("sell", D(100), "market", "filled")
    finally:
        ctx.store.dispose()


def test_a_real_broker_rejection_still_counts_attempts(tmp_path, any_db_url, server) -> None:
    server.book.reject_messages[SYM] = (403, 40310000, "insufficient qty available for order")
    ctx = engine(tmp_path, any_db_url, server, at(15, 0, 30), market_open=True)  # 10:00 New York
    try:
        [event] = tick(ctx, at(15, 1, 5), at(15, 0), 104.0, 105.5, 103.9, 105.2)
        assert event.what == "blocked" and posts(server) == 1
        assert (stop(ctx).status, stop(ctx).attempts) == ("blocked", 1)
        [event] = tick(ctx, at(15, 2, 5), at(15, 1), 105.2, 105.3, 105.0, 105.1)
        assert event.what == "blocked" and posts(server) == 2
        assert (stop(ctx).status, stop(ctx).attempts) == ("blocked", 2)
    finally:
        ctx.store.dispose()
