"""Alpaca's rules for broker-side protective orders, worked by hand: which order a stop becomes, its
stop price in cents rounded towards the position, whole shares for trailing stops, DAY for fractions."""
from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from engine.execution.native_plan import plan_for, stop_price_for
from engine.store.models import ProtectiveStop
from engine.trading.brokers.alpaca_mapping import to_alpaca_request
from engine.trading.brokers.base import OrderRejected, OrderRequest, OrderSide, OrderType

D = Decimal


def stop(direction: int = 1, entry: str = "98.76", loss: str | None = None, trail: str | None = None) -> ProtectiveStop:
    at = datetime(2026, 1, 5, tzinfo=UTC)
    return ProtectiveStop(symbol="AAPL", status="active", direction=direction, entry_price=D(entry), extreme_price=D(entry),
                          stop_loss_pct=D(loss) if loss else None, trail_pct=D(trail) if trail else None,
                          opened_at=at, source="manual", actor="t", created_at=at, updated_at=at, attempts=0)


def test_stop_prices_round_towards_the_position() -> None:
    assert stop_price_for(D("98.76"), D(3), 1) == D("95.80")  # 95.7972 up: a long's sell stop never looser
    assert stop_price_for(D("98.76"), D(3), -1) == D("101.72")  # 101.7228 down for a short's buy stop
    assert stop_price_for(D("0.8765"), D(10), 1) == D("0.7889")  # 0.78885 up, 1/100 cent below $1


def test_which_native_order_a_stop_becomes() -> None:
    both = plan_for(stop(loss="3", trail="5"), D(100))
    assert both is not None and (both.order_type, both.trail_percent, both.time_in_force) == \
        (OrderType.TRAILING_STOP, D(5), "gtc")
    fractional = plan_for(stop(loss="3", trail="5"), D("10.5"))  # no trailing stop for a fraction: the stop order, DAY
    assert fractional is not None and (fractional.order_type, fractional.stop_price, fractional.time_in_force) == \
        (OrderType.STOP, D("95.80"), "day")
    assert plan_for(stop(trail="5"), D("10.5")) is None  # engine-side only
    assert plan_for(stop(), D(100)) is None  # take-profit / time / ATR only: engine-side


def test_alpaca_requests_for_stops() -> None:
    req = to_alpaca_request(OrderRequest("c1", "AAPL", OrderSide.SELL, D(100), OrderType.STOP, time_in_force="gtc",
                                         stop_price=D("95.80")))
    assert (req.type.value, req.stop_price, req.time_in_force.value) == ("stop", 95.8, "gtc")
    trail = to_alpaca_request(OrderRequest("c2", "AAPL", OrderSide.SELL, D(100), OrderType.TRAILING_STOP,
                                           time_in_force="gtc", trail_percent=D(5)))
    assert (trail.type.value, trail.trail_percent) == ("trailing_stop", 5.0)
    with pytest.raises(OrderRejected, match="whole shares"):
        to_alpaca_request(OrderRequest("c3", "AAPL", OrderSide.SELL, D("1.5"), OrderType.TRAILING_STOP,
                                       trail_percent=D(5)))
    with pytest.raises(OrderRejected, match="stop price"):
        to_alpaca_request(OrderRequest("c4", "AAPL", OrderSide.SELL, D(1), OrderType.STOP))
