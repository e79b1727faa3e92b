"""Pre-trade checks as pure functions: each refuses with its reason at the edge and passes inside it."""
from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from engine.trading.brokers.base import OrderSide, OrderType
from engine.trading.risk import (
    OrderFacts,
    check_daily_loss,
    check_drawdown,
    check_gross_exposure,
    check_order_size,
    check_position_limit,
    check_price_collar,
    check_stale_data,
    check_trading_state,
    run_checks,
)
from engine.trading.risk_limits import RiskLimits
from engine.trading.state import TradingState

D = Decimal
NOW = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
LIMITS = RiskLimits(max_order_qty=D(1000), max_order_notional=D(50_000), max_position_notional=D(80_000),
                    max_gross_exposure_pct=D(100), price_collar_pct=D(5), daily_loss_limit_pct=D(3),
                    max_drawdown_pct=D(10), stale_data_seconds=60)


def facts(**kw) -> OrderFacts:
    base = dict(state=TradingState.ACTIVE, symbol="AAA", side=OrderSide.BUY, qty=D(100), order_type=OrderType.MARKET,
                limit_price=None, origin="planner", actor="system:planner", now=NOW, last_price=D(100),
                last_data_at=NOW - timedelta(seconds=5), position_qty=D(0), projected_qty=D(0), equity=D(100_000),
                start_of_day_equity=D(100_000), peak_equity=D(100_000), gross_exposure=D(0))
    base.update(kw)
    return OrderFacts(**base)


def test_a_plain_order_passes_every_check():
    assert run_checks(facts(), LIMITS) is None


@pytest.mark.parametrize(
    ("state", "kw", "allowed"),
    [
        (TradingState.ACTIVE, {}, True),
        (TradingState.REDUCING, {}, False),
        (TradingState.REDUCING, {"side": OrderSide.SELL, "position_qty": D(300), "projected_qty": D(300)}, True),
        (TradingState.REDUCING, {"side": OrderSide.SELL, "qty": D(400), "position_qty": D(300), "projected_qty": D(300)}, False),
        (TradingState.REDUCING, {"side": OrderSide.BUY, "position_qty": D(-300), "projected_qty": D(-300)}, True),
        (TradingState.HALTED, {"side": OrderSide.SELL, "position_qty": D(300), "projected_qty": D(300)}, False),
        (TradingState.HALTED, {"side": OrderSide.SELL, "position_qty": D(300), "projected_qty": D(300),
                               "origin": "flatten", "actor": "alice"}, True),
        (TradingState.HALTED, {"side": OrderSide.SELL, "position_qty": D(300), "projected_qty": D(300),
                               "origin": "flatten", "actor": "system:risk"}, False),
        (TradingState.SHUTTING_DOWN, {"side": OrderSide.SELL, "position_qty": D(300), "projected_qty": D(300),
                                      "origin": "shutdown", "actor": "system:shutdown"}, True),
        (TradingState.SHUTTING_DOWN, {}, False),
        (TradingState.STOPPED, {"side": OrderSide.SELL, "position_qty": D(300), "projected_qty": D(300),
                                "origin": "flatten", "actor": "alice"}, False),
    ],
)
def test_trading_state_rules(state, kw, allowed):
    result = check_trading_state(facts(state=state, **kw))
    assert (result is None) is allowed
    if result is not None:
        assert result.check == "trading_state" and state.value in result.reason


def test_order_size_edges():
    assert check_order_size(facts(qty=D(500)), LIMITS) is None  # 50,000 exactly
    assert check_order_size(facts(qty=D(501)), LIMITS).check == "max_order_notional"
    assert check_order_size(facts(qty=D(1001), last_price=D(1)), LIMITS).check == "max_order_qty"
    flatten = facts(qty=D(5000), side=OrderSide.SELL, position_qty=D(5000), projected_qty=D(5000), origin="flatten")
    assert check_order_size(flatten, LIMITS) is None  # getting flat is never too big


def test_price_collar_both_sides():
    assert check_price_collar(facts(order_type=OrderType.LIMIT, limit_price=D(105)), LIMITS) is None
    high = check_price_collar(facts(order_type=OrderType.LIMIT, limit_price=D("105.01")), LIMITS)
    low = check_price_collar(facts(order_type=OrderType.LIMIT, limit_price=D("94.99")), LIMITS)
    assert high.check == low.check == "price_collar" and "last price 100" in high.reason
    assert check_price_collar(facts(), LIMITS) is None  # market orders have no collar


def test_stale_data():
    assert check_stale_data(facts(last_data_at=NOW - timedelta(seconds=60)), LIMITS) is None
    stale = check_stale_data(facts(last_data_at=NOW - timedelta(seconds=61)), LIMITS)
    assert stale.check == "stale_data" and "61s old" in stale.reason
    assert check_stale_data(facts(last_price=None, last_data_at=None), LIMITS).check == "stale_data"
    assert check_stale_data(facts(last_data_at=None), LIMITS) is None  # freshness unknown: not refused


def test_position_limit_counts_open_orders():
    assert check_position_limit(facts(qty=D(800)), LIMITS) is None
    assert check_position_limit(facts(qty=D(300), projected_qty=D(600)), LIMITS).check == "max_position_notional"


def test_gross_exposure_as_percent_of_equity():
    assert check_gross_exposure(facts(gross_exposure=D(90_000), qty=D(100)), LIMITS) is None
    r = check_gross_exposure(facts(gross_exposure=D(95_000), qty=D(100)), LIMITS)
    assert r.check == "max_gross_exposure" and "100.00% of equity" in r.reason


def test_daily_loss_and_drawdown_use_their_own_references():
    assert check_daily_loss(facts(equity=D(97_001)), LIMITS) is None
    assert check_daily_loss(facts(equity=D(97_000)), LIMITS).check == "daily_loss"
    # up 20% on the day then down: the drawdown is from the peak, not the start
    up_then_down = facts(equity=D(107_000), start_of_day_equity=D(100_000), peak_equity=D(120_000))
    assert check_daily_loss(up_then_down, LIMITS) is None
    dd = check_drawdown(up_then_down, LIMITS)
    assert dd.check == "drawdown" and "below its peak 120000.00" in dd.reason
    assert check_drawdown(facts(equity=D(108_001), peak_equity=D(120_000)), LIMITS) is None


def test_exposure_checks_do_not_block_reductions():
    losing = facts(equity=D(50_000), peak_equity=D(120_000), last_data_at=NOW - timedelta(hours=1),
                   side=OrderSide.SELL, position_qty=D(200), projected_qty=D(200))
    assert run_checks(losing, LIMITS) is None
    assert run_checks(dataclasses.replace(losing, side=OrderSide.BUY), LIMITS).check == "stale_data"


def test_missing_account_refuses_new_exposure_with_advice():
    r = run_checks(facts(equity=None, peak_equity=None, start_of_day_equity=None), LIMITS)
    assert r.check == "no_account" and "account sync" in r.reason


@pytest.mark.parametrize(("side", "qty", "position", "projected", "refused"), [
    (OrderSide.SELL, D(1500), D(688), D(688), "the long 688 (open orders included) into a short 812"),  # the review's
    (OrderSide.SELL, D(688), D(688), D(688), None),  # closes exactly
    (OrderSide.SELL, D(100), D(688), D(688), None),  # reduces
    (OrderSide.SELL, D(100), D(0), D(0), None),  # a short from flat is a decision of its own: allowed
    # our resting sells (688 - projected) may all fill: a sell is judged against what they leave of the long
    (OrderSide.SELL, D(100), D(688), D(-50), "with 738 already resting on the same side would turn the long 688 into "
                                             "a short 150 once all fill; at most 0 more may be sold"),
    (OrderSide.SELL, D(100), D(688), D(50), "with 638 already resting on the same side would turn the long 688 into a "
                                            "short 50 once all fill; at most 50 more may be sold"),
    (OrderSide.SELL, D(50), D(688), D(50), None),  # exactly what the resting sells leave
    (OrderSide.BUY, D(300), D(-200), D(-200), "the short 200 (open orders included) into a long 100"),
    (OrderSide.BUY, D(200), D(-200), D(-200), None),  # covers exactly
])
def test_one_order_never_flips_a_position(side: OrderSide, qty: Decimal, position: Decimal, projected: Decimal,
                                          refused: str | None) -> None:
    resting = {"open_sells": max(D(0), position - projected), "open_buys": max(D(0), projected - position)}
    got = run_checks(facts(side=side, qty=qty, position_qty=position, projected_qty=projected, last_price=D(10),
                           **resting), dataclasses.replace(LIMITS, max_order_qty=D(10_000)))
    if refused is None:
        assert got is None
    else:
        assert got is not None and got.check == "position_flip" and refused in got.reason
        assert "close the position first" in got.reason or "cancel or change the resting orders first" in got.reason


@pytest.mark.parametrize("bad", [D(0), D(-1), D("NaN"), D("Infinity")])
def test_a_last_price_that_is_not_a_price_refuses_new_exposure_and_never_crashes(bad):
    """A close of 0 passed every notional limit (400 x 0 = 0) and skipped the collar; NaN raised in them."""
    for kw in ({}, {"order_type": OrderType.LIMIT, "limit_price": D(100)}):
        r = run_checks(facts(last_price=bad, qty=D(400), **kw), LIMITS)  # a limit of 100: 40,000 in limits
        assert r is not None and r.check == "no_valid_price" and f"the last price of AAA is {bad}" in r.reason
    reduce = facts(last_price=bad, side=OrderSide.SELL, position_qty=D(200), projected_qty=D(200))
    assert run_checks(reduce, LIMITS) is None  # getting smaller is never blocked


def test_a_held_symbol_that_cannot_be_valued_refuses_new_exposure_by_name():
    r = run_checks(facts(unpriced=("XYZ",)), LIMITS)
    assert r is not None and r.check == "no_valid_price" and r.reason.startswith("cannot value XYZ")
    assert run_checks(facts(unpriced=("XYZ",), side=OrderSide.SELL, position_qty=D(200), projected_qty=D(200)),
                      LIMITS) is None
