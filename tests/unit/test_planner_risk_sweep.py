"""The risk appetite slider as a trader reads it: more risk appetite never ends less invested, and the built-in presets
are ordered (conservative <= default <= aggressive gross exposure) at their shipped sliders, in every regime the
default parameters define (and with no regime).

The oracle is the sweep itself: risk appetite 0, 0.05, ..., 1 (every other slider as the preset ships it) on one
market and portfolio; the end gross exposure (sum of |qty| x last close over equity) is recomputed here from the
planned trades, not read from the planner. The market is the simulated one (engine/market/simulated.py, seed 7:
the last 300 one-minute closes of its 8 stocks, the ATR of its bars), the portfolio 6 of them at about 100,000 each
and 400,000 cash, sized as the engine sizes buys (default parameters: ATR, Kelly, the regime's trading bias).

Tolerance: whole-share rounding. Buys and sells are whole shares (each fitted to a budget, a target or a cap is
floored), and a plan has at most 6 steps (sequences.max_depth at risk 1), so two plans that hold the same mix can
differ by up to 6 shares of the dearest stock: TOL = 6 x the highest last close / equity (0.23% here). Every other
difference is a real step the wrong way.

Before the fix (the probe that found them, at 0.05 steps): Default fell 0.629 -> 0.544 at risk 0.1 -> 0.15 (no
regime; the risk slider set sequences.max_depth 2-3 below 0.375: a plan of 2-3 buys bought the top of the targets,
and a higher max weight moved target weight onto the capped top name and off the others it bought; each depth step
let a swap in; now the slider sets no fewer than the preset's sequences.min_depth, 4); Aggressive fell 0.599 -> 0.300
at 0.9 -> 0.95 in the neutral regimes and 0.950 -> 0.750 at 0.95 -> 1 with no regime (its at_least anchor was Default
as shipped at exactly its shipped sliders and Default at its sliders elsewhere, and a plan of the anchor's turnover
may sell one name to buy others: turnover counts the sells, exposure loses them twice; now both forms bound it and
at_least is an exposure floor too); as shipped, Aggressive ended at 0.28 against Default's 0.60 in the bear regimes.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from functools import lru_cache

import pandas as pd
import pytest
import talib

from engine.market.price_path import INDEX
from engine.market.simulated import SimulatedMarket
from engine.params.paramset import default_params
from engine.params.typed import Parameters
from engine.planner.api import Holding, PlanResult, PortfolioState, build_planner, compose_preset, load_preset
from engine.planner.portfolio import size_caps
from engine.planner.types import SELL
from engine.trading.risk_limits import RiskLimits

RISKS = tuple(round(0.05 * i, 2) for i in range(21))
PARAMS = default_params()
REGIMES = [None, *(row.regime_name for row in Parameters(PARAMS).regime_parameters.rows)]


@lru_cache(maxsize=1)
def market() -> tuple[pd.DataFrame, dict[str, float]]:
    """The simulated market's last 300 one-minute closes of its stocks (the planner's HISTORY_BARS) and each
    stock's 14-bar ATR."""
    bars, _ = SimulatedMarket(seed=7).history(3000)
    bars = bars[bars.symbol != INDEX]
    wide = {f: bars.pivot(index="ts", columns="symbol", values=f) for f in ("high", "low", "close")}
    closes = wide["close"].iloc[-300:]
    index = pd.DatetimeIndex(closes.index)
    closes.index = index if index.tz is not None else index.tz_localize("UTC")
    atr = {str(s): float(talib.ATR(wide["high"][s].to_numpy(), wide["low"][s].to_numpy(),
                                   wide["close"][s].to_numpy(), timeperiod=14)[-1]) for s in closes.columns}
    return closes, atr


@lru_cache(maxsize=32)
def state(regime: str | None) -> PortfolioState:
    closes, atr = market()
    now = closes.index[-1].to_pydatetime()
    positions, spent = {}, 0.0
    for s in list(closes.columns)[:6]:
        price = float(closes[s].iloc[-1])
        qty = float(int(100_000 / price))
        positions[str(s)] = Holding(str(s), qty, price, now - timedelta(days=100))
        spent += qty * price
    base = PortfolioState(positions=positions, cash=1_000_000.0 - spent, history=closes, now=now, regime=regime)
    limits = RiskLimits.from_params(PARAMS)
    return replace(base, limits=limits, size_caps=size_caps(PARAMS, base.equity, base.prices, atr,
                                                            {s: h.qty for s, h in positions.items()}, regime, False,
                                                            limits))


def closes_now(st: PortfolioState) -> dict[str, float]:
    return {str(s): float(st.history[s].iloc[-1]) for s in st.history.columns}


def exposure(plan: PlanResult, st: PortfolioState) -> float:
    """End gross exposure over equity, from the trades and the last closes."""
    closes = closes_now(st)
    held = {s: h.qty for s, h in st.positions.items()}
    for step in plan.steps:
        held[step.symbol] = held.get(step.symbol, 0.0) + (-1.0 if step.side == SELL else 1.0) * step.qty
    equity = st.cash + sum(h.qty * closes[s] for s, h in st.positions.items())
    return sum(abs(q) * closes[s] for s, q in held.items()) / equity


def tolerance(st: PortfolioState) -> float:
    closes = closes_now(st)
    equity = st.cash + sum(h.qty * closes[s] for s, h in st.positions.items())
    return 6 * max(closes.values()) / equity


def sweep(name: str, st: PortfolioState) -> list[float]:
    base = load_preset(name)
    return [exposure(build_planner(compose_preset(base, {"risk_appetite": r}, {})).plan(st), st) for r in RISKS]


def falls(values: list[float], tol: float) -> list[tuple[float, float, float, float]]:
    """Each step of the sweep that ends less invested by more than `tol`: (risk, next risk, before, after)."""
    return [(RISKS[i], RISKS[i + 1], round(a, 4), round(b, 4))
            for i, (a, b) in enumerate(zip(values, values[1:], strict=False)) if b < a - tol]


def test_the_tolerance_is_a_few_shares() -> None:
    assert 0.001 < tolerance(state(None)) < 0.003
    assert sorted(s for s in REGIMES if s) == sorted({s for s in REGIMES if s}) and len(REGIMES) == 19


# Still open (the lead's call): in these regimes Aggressive's anchor, Default at Aggressive's other sliders, itself
# steps down (0.870 -> 0.724 at risk 0.35 -> 0.4 in Sideways_High_Vol: a rebalance sell that the scoring does not
# weigh against the exposure it gives up, as the shortfall below the targets is scored as the targets' mix; 0.004 at
# 0.7 -> 0.75 in the others). strict: the mark must go when it is fixed.
OPEN = {"Bullish_High_Vol", "Sideways_Low_Vol", "Sideways_Med_Vol", "Sideways_High_Vol"}
SWEEPS = [pytest.param(name, regime, marks=pytest.mark.xfail(strict=True, reason="open: Default at Aggressive's "
                                                                 "sliders steps down")
                       if name == "aggressive" and regime in OPEN else ())
          for name in ("default", "aggressive") for regime in REGIMES]


@pytest.mark.parametrize("name, regime", SWEEPS)
def test_more_risk_appetite_never_ends_less_invested(name: str, regime: str | None) -> None:
    st = state(regime)
    values = sweep(name, st)
    assert not falls(values, tolerance(st)), (name, regime, [round(v, 4) for v in values])


@pytest.mark.parametrize("regime", REGIMES)
def test_the_presets_as_shipped_are_ordered_by_exposure(regime: str | None) -> None:
    st = state(regime)
    tol = tolerance(st)
    shipped = {n: exposure(build_planner(load_preset(n)).plan(st), st) for n in ("conservative", "default", "aggressive")}
    assert shipped["conservative"] <= shipped["default"] + tol, shipped
    assert shipped["default"] <= shipped["aggressive"] + tol, shipped


@pytest.mark.parametrize("regime", [None, "Bearish_Med_Vol", "Neutral_Med_Vol", "Bullish_High_Vol"])
@pytest.mark.parametrize("risk", [0.3, 0.85, 1.0])
def test_at_equal_sliders_aggressive_ends_at_least_as_invested_as_default(regime: str | None, risk: float) -> None:
    """Aggressive's at_least anchor is also an exposure floor: at the same slider positions (risk moved, the rest as
    Aggressive ships them) it never ends less invested than Default at those positions."""
    st = state(regime)
    sliders = {**load_preset("aggressive").sliders, "risk_appetite": risk}
    plans = {n: build_planner(compose_preset(load_preset(n), sliders, {})).plan(st) for n in ("default", "aggressive")}
    assert exposure(plans["aggressive"], st) >= exposure(plans["default"], st) - tolerance(st), plans["aggressive"].notes
