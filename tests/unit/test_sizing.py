"""ATR position sizing with Kelly cap, regime multipliers and limits."""
from __future__ import annotations

from decimal import Decimal

from engine.params.paramset import default_params
from engine.trading.brokers.base import OrderSide
from engine.trading.risk_limits import RiskLimits
from engine.trading.sizing import SizingParams, kelly_fraction, size_position

D = Decimal
BIG = RiskLimits(max_order_qty=D(10**9), max_order_notional=D(10**12), max_position_notional=D(10**12))
P = SizingParams(atr_risk_per_trade_pct=D(1), atr_stop_multiplier=D(2), kelly_fraction_cap=D(1))


def test_atr_size_risks_the_same_share_of_equity():
    r = size_position(D(100_000), D(50), D(2), OrderSide.BUY, P, BIG)
    assert r.qty == 250 and r.binding == "atr"  # 1000 risk / (2 x 2)
    calm = size_position(D(100_000), D(50), D(1), OrderSide.BUY, P, BIG)
    assert calm.qty == 500  # half the volatility, twice the shares


def test_kelly_cap_limits_the_notional():
    params = SizingParams(atr_risk_per_trade_pct=D(1), atr_stop_multiplier=D(2), kelly_fraction_cap=D("0.05"))
    r = size_position(D(100_000), D(50), D("0.5"), OrderSide.BUY, params, BIG)
    assert r.qty == 100 and r.binding == "kelly"  # 5% of 100k at 50
    edge = size_position(D(100_000), D(50), D("0.5"), OrderSide.BUY, params, BIG, win_rate=0.5, payoff_ratio=1.05)
    assert edge.qty == 47  # f* = 0.5 - 0.5/1.05 = 0.0238 < cap
    assert kelly_fraction(0.4, 1.0) == 0


def test_regime_bias_multiplier_and_direction():
    aggressive = size_position(D(100_000), D(50), D(2), OrderSide.BUY, P, BIG, trading_bias="LONG_AGGRESSIVE")
    assert aggressive.qty == 375 and aggressive.binding == "regime"
    wrong_way = size_position(D(100_000), D(50), D(2), OrderSide.SELL, P, BIG, trading_bias="LONG")
    assert wrong_way.qty == 0
    none = size_position(D(100_000), D(50), D(2), OrderSide.BUY, P, BIG, trading_bias="NONE")
    assert none.qty == 0
    rng = size_position(D(100_000), D(50), D(2), OrderSide.SELL, P, BIG, trading_bias="RANGE")
    assert rng.qty == 125


def test_transition_scales_by_max_position_during_transition():
    r = size_position(D(100_000), D(50), D(2), OrderSide.BUY, P, BIG, trading_bias="LONG", in_transition=True)
    assert r.qty == 125 and r.binding == "transition"


def test_position_and_order_limits_cap_the_size():
    limits = RiskLimits(max_position_notional=D(10_000), max_order_qty=D(10**6), max_order_notional=D(10**9))
    r = size_position(D(100_000), D(50), D(2), OrderSide.BUY, P, limits, current_qty=D(150))
    assert r.qty == 50 and r.binding == "max_position"  # 200 shares of room, 150 held
    limits = RiskLimits(max_order_qty=D(30))
    assert size_position(D(100_000), D(50), D(2), OrderSide.BUY, P, limits).qty == 30


def test_invalid_inputs_size_zero_with_a_reason():
    r = size_position(D(100_000), D(50), D(0), OrderSide.BUY, P, BIG)
    assert r.qty == 0 and "ATR 0" in r.notes[0]


def test_params_come_from_the_parameter_set():
    params = SizingParams.from_params(default_params())
    assert params.kelly_fraction_cap == D("0.25") and params.atr_stop_multiplier == D(2)
    assert params.max_position_during_transition == D("0.5")
    assert params.bias_multipliers["LONG_CAUTIOUS"] == D("0.5") and params.bias_multipliers["NONE"] == 0
    assert params == SizingParams()  # the code defaults equal the schema's
