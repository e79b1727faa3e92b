"""risk.check_tradable as a pure function: an instrument recorded as an index is refused with its reason before
any other check, an order that only shrinks a held index position passes, stocks and unknown kinds pass."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from engine.trading.brokers.base import OrderSide, OrderType
from engine.trading.instruments import not_tradable_reason
from engine.trading.risk import OrderFacts, RiskRejection, check_tradable, run_checks
from engine.trading.risk_limits import RiskLimits
from engine.trading.state import TradingState

D = Decimal
NOW = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)


def facts(**kw: Any) -> OrderFacts:
    base: dict[str, Any] = dict(
        state=TradingState.ACTIVE, symbol="IDX", side=OrderSide.BUY, qty=D(10), order_type=OrderType.MARKET,
        limit_price=None, origin="manual", actor="web:tess", now=NOW, last_price=D(100),
        last_data_at=NOW - timedelta(seconds=5), position_qty=D(0), projected_qty=D(0), equity=D(100_000),
        start_of_day_equity=D(100_000), peak_equity=D(100_000), gross_exposure=D(0), instrument_kind="index")
    base.update(kw)
    return OrderFacts(**base)


def test_reason_names_the_symbol_and_kind() -> None:
    assert not_tradable_reason("IDX", "index") == "IDX is an index, not a tradable instrument"
    assert not_tradable_reason("AAA", "stock") is None
    assert not_tradable_reason("NEW", None) is None  # a symbol the store has not recorded: the other checks decide


@pytest.mark.parametrize("side", [OrderSide.BUY, OrderSide.SELL])
def test_an_index_order_opening_exposure_is_refused(side: OrderSide) -> None:
    expected = RiskRejection("not_tradable", "IDX is an index, not a tradable instrument")
    assert check_tradable(facts(side=side)) == expected
    assert run_checks(facts(side=side), RiskLimits()) == expected


def test_the_index_refusal_comes_before_the_trading_state_and_the_size() -> None:
    f = facts(state=TradingState.HALTED, qty=D(10**9))
    assert run_checks(f, RiskLimits()) == RiskRejection("not_tradable", "IDX is an index, not a tradable instrument")


def test_closing_a_held_index_position_passes_but_adding_or_flipping_does_not() -> None:
    assert check_tradable(facts(side=OrderSide.SELL, qty=D(10), position_qty=D(10), projected_qty=D(10))) is None
    assert run_checks(facts(side=OrderSide.SELL, qty=D(4), position_qty=D(10), projected_qty=D(10)),
                      RiskLimits()) is None
    assert check_tradable(facts(side=OrderSide.BUY, qty=D(1), position_qty=D(10), projected_qty=D(10))) is not None
    assert check_tradable(facts(side=OrderSide.SELL, qty=D(11), position_qty=D(10), projected_qty=D(10))) is not None


@pytest.mark.parametrize("kind", ["stock", None])
def test_stocks_and_unrecorded_symbols_pass(kind: str | None) -> None:
    f = facts(symbol="AAA", instrument_kind=kind)
    assert check_tradable(f) is None and run_checks(f, RiskLimits()) is None


def test_an_index_the_source_trades_passes() -> None:
    """Alpaca's index is SPY, an ETF: with index_tradable (instruments.index_is_tradable) it is ordered like a stock."""
    f = facts(symbol="SPY", index_tradable=True)
    assert not_tradable_reason("SPY", "index", index_tradable=True) is None
    assert check_tradable(f) is None and run_checks(f, RiskLimits()) is None


@pytest.mark.parametrize(("source", "tradable"), [("alpaca", True), ("simulated", False), ("csv", False)])
def test_only_alpacas_index_is_tradable(source: str, tradable: bool) -> None:
    from types import SimpleNamespace

    from engine.settings import MarketSourceName
    from engine.trading.instruments import index_is_tradable

    settings = SimpleNamespace(market_source=MarketSourceName(source))
    assert index_is_tradable(SimpleNamespace(settings=settings)) is tradable
