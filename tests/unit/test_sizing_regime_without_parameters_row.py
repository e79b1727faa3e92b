"""A regime without a RegimeParameters row sizes nothing (audit finding 1, sizing part; probe p18).

Without the row neither the regime's TradingBias nor its size multiplier is known; the planner's size caps and the
shared sizing used to treat that as "no bias" and size buys at full size (1,250 shares below), even in a regime
whose bias is NONE (multiplier 0) or SHORT. Figures by hand: equity 1,000,000 x 0.5% risk = 5,000; ATR 2 x stop
multiple 2 = 4 a share -> 1,250 shares; Kelly 25% of equity at 100 = 2,500 and the order limits (10,000 shares,
250,000 / 100 = 2,500) do not bind.
"""
from __future__ import annotations

from decimal import Decimal as D

import pytest

from engine.params import ParamSet, default_params
from engine.planner.portfolio import size_caps
from engine.trading.brokers.base import OrderSide
from engine.trading.risk_limits import RiskLimits
from engine.trading.sizing import SizingParams, regime_bias, size_position, suggest_size

ARGS = dict(equity=1_000_000.0, prices={"AAA": 100.0}, atr={"AAA": 2.0}, held={}, in_transition=False,
            limits=RiskLimits())


def without_row(regime: str) -> ParamSet:
    """The default parameters without `regime`'s RegimeParameters row (built directly: validation may refuse it)."""
    base = default_params()
    values = dict(base._values)
    values["RegimeParameters"] = {"main": tuple(r for r in values["RegimeParameters"]["main"]
                                                if r["regime_name"] != regime)}
    return ParamSet(values, base.schema)


@pytest.mark.parametrize(("regime", "with_row"), [("Bullish_Med_Vol", 1250.0), ("Neutral_Low_Vol", 0.0),
                                                  ("Strong_Bearish_High_Vol", 0.0)])
def test_planner_caps_a_buy_at_zero_without_the_row(regime: str, with_row: float) -> None:
    assert size_caps(default_params(), regime=regime, **ARGS) == {"AAA": with_row}  # LONG x 1; NONE x 0; SHORT
    assert size_caps(without_row(regime), regime=regime, **ARGS) == {"AAA": 0.0}  # was 1,250 for all three


def test_no_regime_known_keeps_sizing_without_a_bias() -> None:
    assert size_caps(default_params(), regime=None, **ARGS) == {"AAA": 1250.0}  # unchanged: no regime to look up
    assert size_caps(None, regime="Bullish_Med_Vol", **ARGS) == {"AAA": 1250.0}  # no parameter set at all


def test_size_position_says_why() -> None:
    ps = without_row("Bullish_Med_Vol")
    assert regime_bias(ps, "Bullish_Med_Vol") is None and regime_bias(default_params(), "Bullish_Med_Vol") == "LONG"
    r = size_position(D(1_000_000), D(100), D(2), OrderSide.BUY, SizingParams(), RiskLimits(), trading_bias=None,
                      regime="Bullish_Med_Vol")
    assert (r.qty, r.binding) == (0, "regime")
    assert "Bullish_Med_Vol has no RegimeParameters row" in r.notes[0]
    full = size_position(D(1_000_000), D(100), D(2), OrderSide.BUY, SizingParams(), RiskLimits(), trading_bias="LONG",
                         regime="Bullish_Med_Vol")
    assert full.qty == 1250
    ticket = suggest_size(D(1_000_000), D(100), D(2), OrderSide.BUY, SizingParams(), RiskLimits(),
                          regime="Bullish_Med_Vol")
    assert ticket.qty == 0 and "no RegimeParameters row" in ticket.notes[0]
