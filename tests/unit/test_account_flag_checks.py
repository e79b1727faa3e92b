"""The gateway's account-flag checks and the PDT warning on hand-made facts (audit alpaca_market_time, finding 5)."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from engine.trading.account_flags import AccountFlags, pdt_warning
from engine.trading.brokers.base import BrokerAccount, OrderSide, OrderType
from engine.trading.risk import OrderFacts, run_checks
from engine.trading.risk_limits import RiskLimits
from engine.trading.state import TradingState

D = Decimal
NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
LIMITS = RiskLimits(max_order_qty=D(10_000), max_order_notional=D(10**9), max_position_notional=D(10**9),
                    max_gross_exposure_pct=D(1000), price_collar_pct=D(50), daily_loss_limit_pct=D(50),
                    max_drawdown_pct=D(50), stale_data_seconds=3600, max_rejections=1000)


BASE = OrderFacts(state=TradingState.ACTIVE, symbol="AAA", side=OrderSide.BUY, qty=D(100), order_type=OrderType.MARKET,
                  limit_price=None, origin="planner", actor="system:planner", now=NOW, last_price=D(100),
                  last_data_at=NOW - timedelta(seconds=5), position_qty=D(0), projected_qty=D(0), equity=D(100_000),
                  start_of_day_equity=D(100_000), peak_equity=D(100_000), gross_exposure=D(0))


def check_of(**kw: object) -> str | None:
    refused = run_checks(replace(BASE, **kw), LIMITS)
    return None if refused is None else refused.check


def test_no_flags_known_and_the_permissive_defaults_restrict_nothing() -> None:
    assert check_of() is None and check_of(account=AccountFlags()) is None
    assert AccountFlags.of(BrokerAccount(D(1), D(1), D(1))) == AccountFlags(equity=D(1))  # the paper broker's account
    assert check_of(side=OrderSide.SELL, account=AccountFlags.of(BrokerAccount(D(1), D(1), D(1)))) is None


@pytest.mark.parametrize("flags", [AccountFlags(trading_blocked=True), AccountFlags(account_blocked=True),
                                   AccountFlags(trade_suspended_by_user=True), AccountFlags(status="INACTIVE"),
                                   AccountFlags(status="ACCOUNT_CLOSED")])
def test_a_blocked_account_refuses_every_order_exits_and_flattens_too(flags: AccountFlags) -> None:
    assert check_of(account=flags) == "account_blocked"
    assert check_of(account=flags, side=OrderSide.SELL, position_qty=D(100), projected_qty=D(100)) == "account_blocked"
    assert check_of(account=flags, side=OrderSide.SELL, position_qty=D(100), projected_qty=D(100),
                    origin="flatten", actor="alice") == "account_blocked"


@pytest.mark.parametrize(("position", "projected", "qty", "refused"), [
    (D(0), D(0), D(10), True),  # opens a short
    (D(-20), D(-20), D(10), True),  # adds to a short
    (D(100), D(100), D(100), False),  # sells what is held
    (D(100), D(100), D(40), False),
    (D(100), D(0), D(50), True),  # 100 held, 100 already being sold: 50 more is a short sale
    (D(0), D(100), D(50), True),  # an open buy is not held yet: Alpaca counts the sale as short
])
def test_no_sell_opens_or_grows_a_short_without_shorting(position: Decimal, projected: Decimal, qty: Decimal,
                                                         refused: bool) -> None:
    no_short = AccountFlags(shorting_enabled=False)
    kw = dict(side=OrderSide.SELL, qty=qty, position_qty=position, projected_qty=projected)
    assert check_of(account=no_short, **kw) == ("shorting_disabled" if refused else None)
    assert check_of(account=AccountFlags(), **kw) is None
    assert check_of(account=no_short, side=OrderSide.BUY, qty=qty, position_qty=position, projected_qty=projected) is None


@pytest.mark.parametrize(("flags", "warned"), [
    (AccountFlags(pattern_day_trader=True, daytrade_count=3, equity=D(20000)), True),
    (AccountFlags(daytrade_count=3, equity=D("24999.99")), True),
    (AccountFlags(pattern_day_trader=True, daytrade_count=3, equity=D(25000)), False),  # at the minimum: allowed
    (AccountFlags(daytrade_count=2, equity=D(20000)), False),
    (AccountFlags(daytrade_count=5, equity=None), False),
])
def test_pdt_warning(flags: AccountFlags, warned: bool) -> None:
    assert (pdt_warning(flags) is not None) is warned
    assert check_of(account=flags) is None  # a warning, never a refusal


def test_flags_survive_the_store_round_trip() -> None:
    flags = AccountFlags("ACTIVE", False, False, True, True, 4, False, D("20000.5"), "2026-03-02T15:00:00+00:00",
                         "alpaca")
    assert AccountFlags.from_json(flags.to_json()) == flags
