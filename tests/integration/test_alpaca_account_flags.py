"""Alpaca's account flags reach the gateway's checks and the Health page (audit alpaca_market_time, finding 5).

Real HTTP to the fake Alpaca server, a real store (SQLite and PostgreSQL). The account sync stores the flags it read
(engine_kv); the checks read them from there: no broker call per order.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from engine.context import EngineContext
from engine.health.account_check import check_broker_account
from engine.health.grades import DEGRADED, HEALTHY, UNHEALTHY
from engine.trading.account_flags import read_account_flags
from engine.trading.brokers.base import OrderSide, OrderType
from engine.trading.gateway import OrderIntent, gather_facts, submit
from engine.trading.risk import run_checks
from engine.trading.sync import sync_from_broker
from tests.fake_alpaca import FakeAlpacaServer
from tests.trading_control_fixtures import LOOSE, alpaca_fixtures

D = Decimal
BLOCKED = {"status": "ACCOUNT_UPDATED", "trading_blocked": True, "account_blocked": True}
PDT = {"pattern_day_trader": True, "daytrade_count": 3}

server, ctx = alpaca_fixtures()


def _account(ctx: EngineContext, server: FakeAlpacaServer, **flags: object) -> None:
    """Alpaca reports these account fields from now on; the next account sync reads them."""
    server.book.account_overrides.update(flags)
    ctx.clock.advance(timedelta(seconds=10))
    sync_from_broker(ctx, LOOSE)


def _intent(symbol: str, side: OrderSide, qty: int, key: str) -> OrderIntent:
    return OrderIntent(symbol, side, D(qty), OrderType.MARKET, None, reason="test", idempotency_key=key)


def _checked(ctx: EngineContext, intent: OrderIntent) -> tuple[str, str] | None:
    """The gateway's facts and checks for `intent`, with the flags the sync stored (what gather_facts passes)."""
    with ctx.store.write() as s:
        facts = gather_facts(s, intent, "planner", "planner", ctx.clock.now())
        refused = run_checks(replace(facts, account=read_account_flags(s)), LOOSE)
    return None if refused is None else (refused.check, refused.reason)


def test_the_sync_stores_the_flags_alpaca_reports(ctx: EngineContext, server: FakeAlpacaServer) -> None:
    server.book.cash = D(20000)
    _account(ctx, server, **BLOCKED, **PDT, shorting_enabled=False, last_equity="21000")
    account = ctx.broker.get_account()
    assert (account.trading_blocked, account.account_blocked, account.status) == (True, True, "ACCOUNT_UPDATED")
    assert (account.pattern_day_trader, account.daytrade_count, account.shorting_enabled) == (True, 3, False)
    assert account.last_equity == D(21000)
    with ctx.store.read() as s:
        flags = read_account_flags(s)
    assert flags is not None
    assert (flags.trading_blocked, flags.account_blocked, flags.status, flags.shorting_enabled) == (
        True, True, "ACCOUNT_UPDATED", False)
    assert (flags.pattern_day_trader, flags.daytrade_count, flags.equity) == (True, 3, D(20000))


def test_a_blocked_account_refuses_every_order_before_alpaca(ctx: EngineContext, server: FakeAlpacaServer) -> None:
    assert _checked(ctx, _intent("AAA", OrderSide.BUY, 10, "ok")) is None  # an active account: no refusal
    _account(ctx, server, **BLOCKED)
    check, reason = _checked(ctx, _intent("AAA", OrderSide.BUY, 10, "b")) or ("", "")
    assert check == "account_blocked" and reason.startswith("the alpaca account is not open for trading (")
    assert "account_blocked" in reason and "trading_blocked" in reason and "status ACCOUNT_UPDATED" in reason
    _account(ctx, server, status="ACTIVE", trading_blocked=False, account_blocked=False, trade_suspended_by_user=True)
    assert (_checked(ctx, _intent("AAA", OrderSide.BUY, 10, "c")) or ("",))[0] == "account_blocked"
    _account(ctx, server, trade_suspended_by_user=False)
    assert _checked(ctx, _intent("AAA", OrderSide.BUY, 10, "d")) is None


def test_no_short_sale_on_an_account_without_shorting(ctx: EngineContext, server: FakeAlpacaServer) -> None:
    server.book.set_position("AAA", D(30), D(100))
    _account(ctx, server, shorting_enabled=False)
    assert _checked(ctx, _intent("AAA", OrderSide.SELL, 30, "all")) is None  # selling what is held
    check, reason = _checked(ctx, _intent("BBB", OrderSide.SELL, 10, "open")) or ("", "")
    assert check == "shorting_disabled" and "does not allow short selling" in reason
    _account(ctx, server, shorting_enabled=True)
    assert _checked(ctx, _intent("BBB", OrderSide.SELL, 10, "open2")) is None


def test_gateway_sends_nothing_to_a_blocked_or_unshortable_account(ctx: EngineContext,
                                                                  server: FakeAlpacaServer) -> None:
    _account(ctx, server, **BLOCKED, shorting_enabled=False)
    before = server.hits_for("POST", "/v2/orders")
    buy = submit(ctx, _intent("AAA", OrderSide.BUY, 10, "p2-buy"), "planner", "planner", LOOSE)
    assert (buy.accepted, buy.check) == (False, "account_blocked")
    _account(ctx, server, status="ACTIVE", trading_blocked=False, account_blocked=False)
    short = submit(ctx, _intent("BBB", OrderSide.SELL, 10, "p2-short"), "planner", "planner", LOOSE)
    assert (short.accepted, short.check) == (False, "shorting_disabled")
    assert server.hits_for("POST", "/v2/orders") == before


def test_health_names_a_blocked_account_and_the_pdt_risk(ctx: EngineContext, server: FakeAlpacaServer) -> None:
    assert check_broker_account(ctx).status == HEALTHY
    server.book.cash = D(20000)
    _account(ctx, server, **PDT)
    pdt = check_broker_account(ctx)
    assert pdt.status == DEGRADED and "may refuse to close a position opened today" in pdt.detail
    assert "20,000.00" in pdt.detail
    _account(ctx, server, **BLOCKED)
    assert check_broker_account(ctx).status == UNHEALTHY
    server.book.cash = D(30000)  # above $25,000: PDT protection does not apply
    _account(ctx, server, status="ACTIVE", trading_blocked=False, account_blocked=False)
    assert check_broker_account(ctx).status == HEALTHY
