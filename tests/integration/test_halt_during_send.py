"""What the Alpaca send path checks at the moment it sends (store on SQLite and PostgreSQL, real HTTP to
the local fake Alpaca server).

1. The trading state is re-read right before the POST: a HALT committed while an order was on its way
   (after the gateway recorded it, e.g. during a slow clock read) stops it, unless the gateway would
   allow that order while HALTED anyway (an operator's reducing flatten). The kill switch waits only
   IN_FLIGHT_WAIT_S for such orders, so without this one could reach Alpaca after its cancel sweep.
   And a HALT committed while the POST is on the wire: the sender asks again once Alpaca has answered and
   cancels the order it just placed (it would otherwise rest after the kill switch's sweep).
2. The extended-hours window (04:00-20:00 New York) is judged by the engine's clock, not by the
   timestamp of a cached /v2/clock answer (up to 30 s old).
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from engine.clock import ManualClock
from engine.context import EngineContext
from engine.store.models import OrderRow
from engine.trading import control
from engine.trading import state as ts
from engine.trading.brokers.alpaca import AlpacaBroker
from engine.trading.brokers.alpaca_limits import RateLimiter
from engine.trading.brokers.base import OrderRejected, OrderRequest, OrderSide, OrderStatus, OrderType
from engine.trading.control_steps import IN_FLIGHT_WAIT_S
from engine.trading.gateway import GatewayResult, OrderIntent, submit
from engine.trading.state import TradingState
from engine.trading.sync import sync_from_broker
from tests.fake_alpaca import FakeAlpacaServer
from tests.trading_control_fixtures import LOOSE, broker_context

KEY, SECRET = "test-key", "test-secret"
HALTED_WHILE_SENDING = "trading was halted while the order was being sent"
CLOCK_DELAY_S = 0.8  # how long the fake server holds the session check's clock read


def make_broker(srv: FakeAlpacaServer, **kw: object) -> AlpacaBroker:
    opts: dict[str, object] = {"timeout_s": 6.0, "deadline_s": 12.0, "retry_wait_s": 0.01,
                               "limiter": RateLimiter(per_minute=60_000, burst=1000)}
    opts.update(kw)
    return AlpacaBroker(KEY, SECRET, paper=True, url_override=srv.url, **opts)  # type: ignore[arg-type]


@pytest.fixture
def env(tmp_path, any_db_url: str) -> Iterator[tuple[EngineContext, FakeAlpacaServer]]:
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server, \
            broker_context(tmp_path, any_db_url, lambda _clock: make_broker(server), LOOSE) as ctx:
        yield ctx, server


def send_in_thread(ctx: EngineContext, intent: OrderIntent, actor: str, origin: str
                   ) -> tuple[threading.Thread, list[GatewayResult]]:
    out: list[GatewayResult] = []
    t = threading.Thread(target=lambda: out.append(submit(ctx, intent, actor, origin, LOOSE)), daemon=True)
    t.start()
    return t, out


def wait_until(cond: Callable[[], bool], within_s: float = 3.0) -> bool:
    for _ in range(int(within_s / 0.01)):
        if cond():
            return True
        time.sleep(0.01)
    return False


def halt(ctx: EngineContext, actor: str = "alice") -> None:
    with ctx.store.write() as s:
        ts.change(s, ctx.clock.now(), TradingState.HALTED, actor, "halted while an order is being sent")


def stored(ctx: EngineContext, coid: str) -> OrderRow:
    with ctx.store.read() as s:
        return s.scalars(select(OrderRow).where(OrderRow.client_order_id == coid)).one()


def start_send_with_slow_clock(ctx: EngineContext, server: FakeAlpacaServer, intent: OrderIntent, actor: str,
                               origin: str, delay_s: float) -> tuple[threading.Thread, list[GatewayResult]]:
    """Start the send and return once it is recorded and held in the session check's (slow) clock read."""
    server.inject("GET", "/v2/clock", "delay", delay_s=delay_s)
    before = server.hits_for("GET", "/v2/clock")
    sender, out = send_in_thread(ctx, intent, actor, origin)
    assert wait_until(lambda: server.hits_for("GET", "/v2/clock") > before), "the send reached its clock read"
    return sender, out


def test_halt_committed_while_the_order_is_on_its_way_stops_it(env) -> None:
    ctx, server = env
    intent = OrderIntent("AAA", OrderSide.BUY, Decimal(2), OrderType.MARKET, None, reason="t", idempotency_key="h-1")
    sender, out = start_send_with_slow_clock(ctx, server, intent, "planner", "planner", CLOCK_DELAY_S)
    halt(ctx)
    sender.join(4 * CLOCK_DELAY_S)
    assert not sender.is_alive()
    result = out[0]
    assert result.accepted is False and result.status is OrderStatus.REJECTED and result.check == "broker"
    assert HALTED_WHILE_SENDING in (result.reason or "")
    row = stored(ctx, result.client_order_id)
    assert row.status == OrderStatus.REJECTED.value and HALTED_WHILE_SENDING in (row.reject_reason or "")
    assert server.hits_for("POST", "/v2/orders") == 0 and server.book.orders == {}
    assert ctx.broker.breaker_state() == "closed"  # held by us, not an Alpaca failure


@pytest.mark.parametrize(("actor", "sent"), [("alice", True), ("system:auto_halt", False)])
def test_an_operators_reducing_flatten_still_goes_out_when_halted_meanwhile(env, actor: str, sent: bool) -> None:
    """While HALTED the gateway allows an operator's reducing flatten, never a system actor's: same at send time."""
    ctx, server = env
    server.book.set_position("AAA", Decimal(12), Decimal(100))
    sync_from_broker(ctx, LOOSE)
    intent = OrderIntent("AAA", OrderSide.SELL, Decimal(12), OrderType.MARKET, None, reason="t", idempotency_key="f-1")
    sender, out = start_send_with_slow_clock(ctx, server, intent, actor, "flatten", CLOCK_DELAY_S)
    halt(ctx)
    sender.join(4 * CLOCK_DELAY_S)
    result = out[0]
    assert server.hits_for("POST", "/v2/orders") == int(sent)
    if sent:
        assert result.accepted and result.status is OrderStatus.FILLED
        assert server.book.positions.get("AAA", (Decimal(0), Decimal(0)))[0] == 0  # the fake fills market orders
    else:
        assert not result.accepted and HALTED_WHILE_SENDING in (result.reason or "")
        assert server.book.positions["AAA"][0] == 12


def test_order_slower_than_the_kill_switchs_wait_never_reaches_alpaca(env) -> None:
    """The send is held in its clock read 1 s longer than the kill switch waits for orders in flight."""
    ctx, server = env
    intent = OrderIntent("AAA", OrderSide.BUY, Decimal(1), OrderType.LIMIT, Decimal(60), reason="t",
                         idempotency_key="ks-1")  # a limit far below the market: it would rest at Alpaca
    sender, out = start_send_with_slow_clock(ctx, server, intent, "planner", "planner", IN_FLIGHT_WAIT_S + 1.0)
    result = control.perform(ctx, "alice", "kill_switch", reason="halt during send", execute="here")
    sender.join(3 * (IN_FLIGHT_WAIT_S + 1.0))
    assert not sender.is_alive()
    assert out[0].accepted is False and HALTED_WHILE_SENDING in (out[0].reason or "")
    assert server.hits_for("POST", "/v2/orders") == 0
    assert server.book.open_orders() == [], "nothing rests at Alpaca after the kill switch"
    assert result.status == "done", result.message
    with ctx.store.read() as s:
        assert ts.current(s).state is TradingState.HALTED


def test_an_order_alpaca_accepts_after_the_kill_switchs_sweep_is_cancelled_by_its_sender(env) -> None:
    """The POST is on the wire when the HALT commits and is answered only after the kill switch has swept and
    stopped waiting: the sender asks again once Alpaca has answered and cancels the order it just placed
    (before, it rested at Alpaca after the kill switch reported done)."""
    ctx, server = env
    intent = OrderIntent("AAA", OrderSide.BUY, Decimal(1), OrderType.LIMIT, Decimal(60), reason="t",
                         idempotency_key="late-1")  # far below the market: it would rest
    server.inject("POST", "/v2/orders", "delay", delay_s=IN_FLIGHT_WAIT_S + 1.0)
    sender, out = send_in_thread(ctx, intent, "planner", "planner")
    assert wait_until(lambda: server.hits_for("POST", "/v2/orders") == 1), "the POST reached Alpaca"
    result = control.perform(ctx, "alice", "kill_switch", reason="halt while a POST is on the wire", execute="here")
    assert result.status == "done", result.message
    sender.join(3 * (IN_FLIGHT_WAIT_S + 1.0))
    assert not sender.is_alive()
    assert server.hits_for("POST", "/v2/orders") == 1  # it did reach Alpaca, after the sweep
    assert server.book.open_orders() == [], "nothing rests at Alpaca after the kill switch"
    assert out[0].status is OrderStatus.CANCELED, out[0]
    assert stored(ctx, out[0].client_order_id).status == OrderStatus.CANCELED.value


# ---- 2. the extended-hours window by the engine's clock ------------------------------------------------------------
def test_extended_hours_end_at_20_00_even_with_a_cached_clock() -> None:
    # Monday 2 March 2026 is a trading day; New York is on EST (UTC-5): 19:59:50 there is 00:59:50 UTC on 3 March
    before_close = datetime(2026, 3, 3, 0, 59, 50, tzinfo=UTC)
    clock = ManualClock(before_close)
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        server.book.market_open = False
        server.book.next_open = datetime(2026, 3, 3, 14, 30, tzinfo=UTC)
        server.book.clock_now = before_close
        broker = make_broker(server, extended_hours=True, clock=clock)
        limit = OrderRequest("ext-1", "AAA", OrderSide.BUY, Decimal(1), OrderType.LIMIT, Decimal(90))
        assert broker.submit_order(limit).status is OrderStatus.NEW  # 19:59:50: inside 04:00-20:00
        clock.advance(timedelta(seconds=25))  # 20:00:15 New York; the clock answer is 25 s old (< 30 s cache)
        server.book.clock_now = clock.now()
        with pytest.raises(OrderRejected, match="outside Alpaca's extended hours"):
            broker.submit_order(OrderRequest("ext-2", "AAA", OrderSide.BUY, Decimal(1), OrderType.LIMIT, Decimal(90)))
        assert server.hits_for("POST", "/v2/orders") == 1
        assert server.hits_for("GET", "/v2/clock") == 1, "the cached answer still says whether the market is open"
