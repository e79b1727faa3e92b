"""With extended hours on, the planner's gate asks about the orders it sends (market orders), not about a limit
probe: after the close (Monday 2026-03-02 17:30 New York = 22:30 UTC, after-hours by zoneinfo/XNYS) the plan is
stored but not sent, so no market order collects a rejection (twenty of them halted the desk). Brokers: Alpaca over
real HTTP to the fake Alpaca on 127.0.0.1, and the paper broker keeping XNYS's session; stores: SQLite and
PostgreSQL."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from engine.clock import ManualClock
from engine.context import EngineContext
from engine.market.exchange import alpaca_calendar
from engine.planner.api import recent_plans
from engine.planner.job import run_planner_job
from engine.runtime import build_context
from engine.settings import load_settings
from engine.store.models import OrderRow
from engine.trading import state as trading_state
from engine.trading.brokers.alpaca import AlpacaBroker
from engine.trading.brokers.alpaca_limits import RateLimiter
from engine.trading.brokers.base import OrderType
from engine.trading.brokers.paper import PaperBroker
from tests.engine_run import run_recorded_ticks
from tests.fake_alpaca import FakeAlpacaServer
from tests.regime_pin import pin_regime

KEY, SECRET = "audit-key", "audit-secret"
AFTER_HOURS = datetime(2026, 3, 2, 22, 30, tzinfo=UTC)  # Monday 17:30 New York (EST): after the 16:00 close


@pytest.fixture
def server() -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as srv:
        srv.book.market_open = False
        srv.book.next_open = datetime(2026, 3, 3, 14, 30, tzinfo=UTC)
        srv.book.clock_now = AFTER_HOURS
        yield srv


def warm_context(url: str) -> EngineContext:
    """A warmed-up engine (simulated bars, a pinned long regime) whose plan buys."""
    ctx = build_context(load_settings(database_url=url, warmup_polls=300), with_source=True, migrate=True,
                        clock=ManualClock())
    run_recorded_ticks(ctx, 3)
    pin_regime(ctx, "Bullish_Med_Vol")
    return ctx


def assert_waits_for_the_open(ctx: EngineContext) -> None:
    plan = run_planner_job(ctx)
    assert plan is not None and plan.steps, "the plan has steps: only the session holds them back"
    with ctx.store.read() as session:
        stored = recent_plans(session)[0]
        sent = list(session.scalars(select(OrderRow)))
        state = trading_state.current(session).state.value
    assert not stored.executed and sent == [] and state == "ACTIVE"


def test_planner_waits_for_the_open_with_alpaca_extended_hours(any_db_url: str, server: FakeAlpacaServer) -> None:
    ctx = warm_context(any_db_url)
    broker = AlpacaBroker(KEY, SECRET, paper=True, url_override=server.url, timeout_s=0.5, retry_wait_s=0.01,
                          retry_max_wait_s=0.05, deadline_s=1.0, limiter=RateLimiter(per_minute=60_000, burst=1000),
                          clock=ManualClock(AFTER_HOURS), extended_hours=True)
    assert_waits_for_the_open(replace(ctx, broker=broker))
    assert server.hits_for("POST", "/v2/orders") == 0
    assert broker.accepts_orders_now(OrderType.LIMIT), "after-hours: a limit order could go"
    assert not broker.accepts_orders_now(OrderType.MARKET)
    assert broker.accepts_orders_now(), "other callers: without a type, the old question (limit in extended hours)"


def test_planner_waits_for_the_open_with_paper_extended_hours(any_db_url: str) -> None:
    ctx = warm_context(any_db_url)
    paper = PaperBroker(ctx.store, ManualClock(AFTER_HOURS), starting_cash=Decimal(1_000_000),
                        calendar=alpaca_calendar(), extended_hours=True)
    assert_waits_for_the_open(replace(ctx, broker=paper))
    assert paper.accepts_orders_now(OrderType.LIMIT) and not paper.accepts_orders_now(OrderType.MARKET)
