"""One sizing for the planner and the ticket: the suggested size passes every gateway check it names."""
from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

from engine.trading.brokers.base import OrderSide, OrderType
from engine.trading.risk import OrderFacts, run_checks
from engine.trading.risk_limits import RiskLimits
from engine.trading.sizing import SizingParams, cap_to_limits, suggest_size
from engine.trading.state import TradingState


def _facts(qty: D, price: D, equity: D, gross: D = D(0), position: D = D(0)) -> OrderFacts:
    return OrderFacts(TradingState.ACTIVE, "ECHO", OrderSide.BUY, qty, OrderType.MARKET, None, "manual", "alice",
                      datetime(2026, 1, 1, tzinfo=UTC), price, None, position, position, equity, equity, equity, gross)


def test_the_echo_case_size_fits_max_order_notional_even_after_a_small_move() -> None:
    # big equity and a tiny ATR: the ATR size is huge, max_order_notional 250,000 binds
    limits = RiskLimits(max_order_notional=D(250_000), max_position_notional=D(10_000_000), max_order_qty=D(100_000))
    r = suggest_size(D(10_000_000), D("146.10"), D("0.5"), OrderSide.BUY, SizingParams(kelly_fraction_cap=D(1)), limits)
    assert r.qty == 1694  # floor(250,000 / (146.10 x 1.01))
    assert r.binding == "max_order_notional" and "250,000" in "; ".join(r.notes)
    for moved in (D("146.10"), D("147.50")):  # the gateway checks at the last close, up to ~1% later
        assert run_checks(_facts(r.qty, moved, D(10_000_000)), limits) is None
    assert "1,694 x 146.10 = 247,493 notional" in r.notes[-1]


def test_gross_exposure_and_cash_bind() -> None:
    limits = RiskLimits(max_gross_exposure_pct=D(100))
    # equity 100k, gross already 90k: 10k of room at 100 x 1.01 -> 99 shares
    qty, binding = cap_to_limits("buy", 500, 100.0, 0.0, 90_000.0, 100_000.0, limits)
    assert (qty, binding) == (99.0, "max_gross_exposure")
    assert run_checks(_facts(D(99), D(100), D(100_000), gross=D(90_000)), limits) is None
    r = suggest_size(D(100_000), D(100), D(1), OrderSide.BUY, SizingParams(), RiskLimits(), cash=D(2_000))
    assert r.qty == 20 and r.binding == "cash"


def test_reducing_orders_ignore_exposure_caps() -> None:
    limits = RiskLimits(max_gross_exposure_pct=D(10))
    assert cap_to_limits("sell", 50, 100.0, 80.0, 1e9, 1e5, limits) == (50.0, None)


def test_the_ticket_suggests_closing_rather_than_flipping() -> None:
    """Review: holding 671, Size on a sell suggested 1,209 (sized as a new short); the gateway now refuses a flip."""
    limits = RiskLimits(max_order_notional=D(10_000_000), max_position_notional=D(10_000_000), max_order_qty=D(100_000))
    sell = suggest_size(D(1_000_000), D(100), D(1), OrderSide.SELL, SizingParams(), limits, position_qty=D(671))
    assert sell.qty == 671 and sell.binding == "close"
    assert "closes the long 671 (one order never flips a position)" in "; ".join(sell.notes)
    cover = suggest_size(D(1_000_000), D(100), D(1), OrderSide.BUY, SizingParams(), limits, position_qty=D(-200))
    assert cover.qty == 200 and cover.binding == "close"
    flat = suggest_size(D(1_000_000), D(100), D(1), OrderSide.SELL, SizingParams(), limits)
    assert flat.qty > 671 and flat.binding != "close"  # from flat, a short is sized as before
