"""The gateway and paper broker on SQLite and PostgreSQL: HALT seen by the next order, no duplicate under races."""
from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from engine.clock import ManualClock
from engine.context import EngineContext
from engine.market.types import Bar
from engine.settings import load_settings
from engine.store.db import Store
from engine.store.migrate import open_store
from engine.store.models import BarRow, OrderRow, PaperOrder
from engine.trading import state as trading_state
from engine.trading.brokers.base import OrderSide, OrderType
from engine.trading.brokers.paper import PaperBroker
from engine.trading.gateway import OrderIntent, submit
from engine.trading.risk_limits import RiskLimits
from engine.trading.state import TradingState
from engine.trading.sync import sync_from_broker

T0 = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
D = Decimal
LIMITS = RiskLimits(max_order_qty=D(10**6), max_order_notional=D(10**9), max_position_notional=D(10**9))


@pytest.fixture()
def ctx(any_db_url, tmp_path) -> EngineContext:
    store = open_store(any_db_url, migrate=True)
    clock = ManualClock(T0)
    broker = PaperBroker(store, clock, D(100_000), D(10), D("0.01"), D(1))
    with store.write() as s:
        trading_state.ensure_state(s, T0)
        s.add(BarRow(symbol="AAA", ts=T0, open=100, high=101, low=99, close=100, volume=1e6))
    c = EngineContext(load_settings(database_url=any_db_url, market_source="csv", csv_dir=tmp_path), store, clock,
                      broker, None)
    sync_from_broker(c, LIMITS)
    yield c
    store.dispose()


def count(c: EngineContext, model) -> int:  # type: ignore[no-untyped-def]
    with c.store.read() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_halt_from_another_process_stops_the_next_order(ctx):
    assert submit(ctx, OrderIntent("AAA", OrderSide.BUY, D(1), idempotency_key="a"), "p", "planner", LIMITS).accepted
    web = Store(ctx.store.url)
    with web.write() as s:
        trading_state.change(s, T0, TradingState.HALTED, "alice", "kill switch")
    web.dispose()
    res = submit(ctx, OrderIntent("AAA", OrderSide.BUY, D(1), idempotency_key="b"), "p", "planner", LIMITS)
    assert res.check == "trading_state" and count(ctx, PaperOrder) == 1


def test_concurrent_retries_of_one_intent_make_one_order(ctx):
    intent = OrderIntent("AAA", OrderSide.BUY, D(5), OrderType.LIMIT, D(99), "race", idempotency_key="same")
    results, errors = [], []

    def go() -> None:
        try:
            results.append(submit(ctx, intent, "p", "planner", LIMITS))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert len({r.client_order_id for r in results}) == 1 and sum(not r.duplicate for r in results) == 1
    assert count(ctx, OrderRow) == 1 and count(ctx, PaperOrder) == 1


def test_round_trip_arithmetic(ctx):
    submit(ctx, OrderIntent("AAA", OrderSide.BUY, D(100), idempotency_key="buy"), "p", "manual", LIMITS)
    ctx.clock.advance(60)
    with ctx.store.write() as s:
        s.add(BarRow(symbol="AAA", ts=ctx.clock.now(), open=100, high=111, low=99, close=110, volume=1e6))
    ctx.broker.process_bars([Bar("AAA", ctx.clock.now(), 100, 111, 99, 110, 1e6)])
    submit(ctx, OrderIntent("AAA", OrderSide.SELL, D(100), idempotency_key="sell"), "p", "manual", LIMITS)
    ctx.clock.advance(60)
    with ctx.store.write() as s:
        s.add(BarRow(symbol="AAA", ts=ctx.clock.now(), open=110, high=111, low=109, close=110, volume=1e6))
    ctx.broker.process_bars([Bar("AAA", ctx.clock.now(), 110, 111, 109, 110, 1e6)])
    report = sync_from_broker(ctx, LIMITS)
    # bought at 100.10, sold at 109.89, 2 x 100 x 0.01 commission
    assert report.equity == D(100_000) + D(100) * (D("109.89") - D("100.1")) - D(2)
    assert report.positions == 0 and ctx.broker.realized_pnl() == (D("979"), D(2))
