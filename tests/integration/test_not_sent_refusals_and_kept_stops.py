"""Audit finding 1 (market time): refusals that never reached Alpaca do not halt trading, and an automatic halt keeps
the positions' native protective stops at the broker. Fake Alpaca over real HTTP, on SQLite and PostgreSQL.

Before the fix: 20 buys refused locally after the close (0 POSTs) were stored "broker: ..." and counted as broker
rejections -> HALTED -> the automatic halt's cancel-all cancelled the resting GTC stop: 100 shares held overnight
with no stop at the broker. Expected figures are worked by hand in the comments."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from components.trading_tables import NOT_SENT_TITLE, rejected_orders_table
from engine.clock import ManualClock
from engine.context import EngineContext
from engine.execution.native_stops import sync_native
from engine.execution.protect import attach_stop
from engine.execution.stops import StopSpec
from engine.store.models import AuditEvent, OrderRow
from engine.trading import control
from engine.trading import state as ts
from engine.trading.auto_halts import evaluate
from engine.trading.brokers.alpaca import AlpacaBroker
from engine.trading.brokers.base import OrderSide, OrderType
from engine.trading.gateway import GatewayResult, OrderIntent, submit
from engine.trading.sync import sync_from_broker
from tests.fake_alpaca import FakeAlpacaServer
from tests.trading_control_fixtures import LOOSE, broker_context

D = Decimal
LIM = replace(LOOSE, max_rejections=20, rejection_window_seconds=300.0)  # the schema's defaults for the trigger
CLOCK_CACHE_S = 31  # AlpacaBroker reuses /v2/clock for 30 s: step past it after opening or closing the fake market


@pytest.fixture
def env(tmp_path, any_db_url: str) -> Iterator[tuple[EngineContext, FakeAlpacaServer]]:
    with FakeAlpacaServer() as srv:
        srv.book.set_position("AAA", D(100), D(100))
        srv.book.prices.update({"AAA": D(100), "BBB": D(100)})

        def make(clock: ManualClock) -> AlpacaBroker:
            return AlpacaBroker(srv.key_id, srv.secret_key, paper=True, url_override=srv.url, timeout_s=2.0,
                                retry_wait_s=0.01, retry_max_wait_s=0.05, sdk_retry_wait_s=0.05, clock=clock)

        with broker_context(tmp_path, any_db_url, make, LIM) as ctx:
            yield ctx, srv


def place_stop(ctx: EngineContext, srv: FakeAlpacaServer) -> str:
    """A 10% stop-loss on the long 100 AAA (entry 100) placed by the native-stop manager in session: a GTC sell stop
    for 100 at 100 x (1 - 10/100) = 90.00; its client order id."""
    attach_stop(ctx, "AAA", StopSpec(stop_loss_pct=D(10)), "alice")
    sync_native(ctx)
    [order] = [o for o in srv.book.orders.values() if o.order_type == "stop"]
    assert (order.side, order.qty, order.stop_price, order.time_in_force, order.status) == \
        ("sell", D(100), D("90.00"), "gtc", "new")
    return order.client_order_id


def buy(ctx: EngineContext, key: str, symbol: str = "BBB") -> GatewayResult:
    result = submit(ctx, OrderIntent(symbol, OrderSide.BUY, D(1), OrderType.MARKET, None, reason="test",
                                     idempotency_key=key), "planner", "planner", LIM)
    ctx.clock.advance(timedelta(seconds=5))  # type: ignore[attr-defined]
    return result


def set_market(ctx: EngineContext, srv: FakeAlpacaServer, is_open: bool) -> None:
    srv.book.market_open = is_open
    ctx.clock.advance(timedelta(seconds=CLOCK_CACHE_S))  # type: ignore[attr-defined]


def state(ctx: EngineContext) -> ts.StateSnapshot:
    with ctx.store.read() as s:
        return ts.current(s)


def stop_at_broker(srv: FakeAlpacaServer) -> list[tuple[str, str, Decimal, str]]:
    return [(o.order_type, o.side, o.qty, o.status) for o in srv.book.orders.values() if o.order_type == "stop"]


def audits(ctx: EngineContext, action: str) -> list[AuditEvent]:
    with ctx.store.read() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def test_twenty_buys_refused_after_the_close_do_not_halt_and_keep_the_stop(env) -> None:
    ctx, srv = env
    place_stop(ctx, srv)
    posts = srv.hits_for("POST", "/v2/orders")  # 1: the stop
    set_market(ctx, srv, False)  # 16:00
    results = [buy(ctx, f"after-close-{i}") for i in range(20)]
    assert srv.hits_for("POST", "/v2/orders") == posts, "the session check refused all 20 before any POST"
    assert all(not r.accepted and r.check == "broker" for r in results)
    with ctx.store.read() as s:
        reasons = [r.reject_reason or "" for r in s.scalars(select(OrderRow).where(OrderRow.symbol == "BBB"))]
    assert len(reasons) == 20
    assert all(r.startswith("not sent: ") and "market is closed" in r and ": not sent" not in r for r in reasons)
    assert [e.details["reached_broker"] for e in audits(ctx, "order.rejected")] == [False] * 20
    evaluate(ctx)  # the risk job: 0 broker rejections of the 20 allowed in 300 s
    assert state(ctx).state is ts.TradingState.ACTIVE
    assert stop_at_broker(srv) == [("stop", "sell", D(100), "new")], "the position keeps its stop overnight"
    shown = str(rejected_orders_table([{"symbol": "BBB", "side": "buy", "qty": 1, "reject_reason": reasons[0]}]))
    assert "text-secondary" in shown and NOT_SENT_TITLE in shown and "text-danger" not in shown


def test_real_broker_rejections_still_count_and_the_automatic_halt_keeps_the_stop(env) -> None:
    ctx, srv = env
    stop = place_stop(ctx, srv)
    resting = submit(ctx, OrderIntent("AAA", OrderSide.BUY, D(5), OrderType.LIMIT, D(80), reason="rest",
                                      idempotency_key="rest-1"), "planner", "planner", LIM)
    assert resting.accepted
    set_market(ctx, srv, False)
    assert all(not buy(ctx, f"closed-{i}").accepted for i in range(19))  # 19 "not sent": none counts
    set_market(ctx, srv, True)
    srv.book.reject_messages["BBB"] = (403, 40310000, "insufficient buying power")
    for i in range(19):  # 19 answered 403 by Alpaca: 19 < 20, still ACTIVE (19 + 19 = 38 would have halted)
        assert buy(ctx, f"403-{i}").reason.startswith("broker: ")  # type: ignore[union-attr]
    assert state(ctx).state is ts.TradingState.ACTIVE
    buy(ctx, "403-19")  # the 20th broker rejection in 20 x 5 s + 31 s < 300 s: HALTED by the gateway's trigger
    snap = state(ctx)
    assert snap.state is ts.TradingState.HALTED and snap.reason.startswith("20 orders rejected by the broker")
    evaluate(ctx)  # enforces the automatic halt: cancels every open order but the protective stop
    orders = {o.client_order_id: o.status for o in srv.book.orders.values()}
    assert orders[resting.client_order_id] == "canceled"
    assert orders[stop] == "new", "the automatic halt kept the stop at Alpaca"
    [kept] = audits(ctx, "control.native_stops_kept")
    assert kept.actor == "system:risk" and kept.details["orders"] == [f"AAA sell 100 stop ({stop})"]
    assert "automatic halt" in kept.details["why"]
    # HALTED, the engine's native-stop manager leaves it alone, even once the position grew at the broker to 150:
    # a stop for 100 of 150 still protects, and no replacement may be placed while HALTED
    sync_native(ctx)
    srv.book.set_position("AAA", D(150), D(100))
    sync_from_broker(ctx, LIM)
    sync_native(ctx)
    assert stop_at_broker(srv) == [("stop", "sell", D(100), "new")]
    assert srv.book.move_price("AAA", D(89)), "and it still fires at 90"


@pytest.mark.parametrize("flatten", [False, True])
def test_the_manual_kill_switch_cancels_the_stops_and_says_so(env, flatten: bool) -> None:
    ctx, srv = env
    stop = place_stop(ctx, srv)
    result = control.perform(ctx, "alice", "halt", reason="operator kill switch", flatten=flatten, execute="here")
    assert result.status == "done", result.message
    assert stop_at_broker(srv) == [("stop", "sell", D(100), "canceled")]
    [gone] = audits(ctx, "control.native_stops_cancelled")
    assert gone.actor == "alice" and gone.details["orders"] == [f"AAA sell 100 stop ({stop})"]
    [step] = [s for s in result.steps if s.name == "cancel_orders"]
    assert "AAA now without a broker-side stop" in step.detail
    assert audits(ctx, "control.native_stops_kept") == []
    held = srv.book.positions.get("AAA")
    assert (held is None or held[0] == 0) if flatten else held == (D(100), D(100))
