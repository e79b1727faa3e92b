"""The trade plan for the current portfolio under a preset: trend signals -> target weights -> orders.

Pure functions over price history, positions and equity, so the engine cycle and the Planner
page's preview call exactly the same code. The regime enters through the active parameters:
the detected regime's TradingBias (RegimeParameters) scales each side's weight, blended by the
preset's regime_sensitivity, and `size_cap` (ATR / Kelly / transition / position limits, see
engine.trading.sizing) bounds how much a trade may add.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import talib

from engine.planner.presets import PlanLimits

SizeCap = Callable[[str, float, float, float], float]  # (symbol, price, side +1/-1, current qty) -> max shares to add
BiasMultiplier = Callable[[float], float]  # side +1/-1 -> the regime bias multiplier for that side (0 forbids)


@dataclass(frozen=True)
class PlannedTrade:
    symbol: str
    signal: float
    target_weight: float
    current_qty: float
    target_qty: float
    order_qty: float  # signed: positive buys
    price: float
    reason: str


def trend_signal(closes: np.ndarray, limits: PlanLimits) -> float:
    """EMA fast/slow spread divided by recent volatility, squashed to [-1, 1]; 0 when history is short."""
    if len(closes) < limits.slow_window + 2:
        return 0.0
    fast = talib.EMA(closes, timeperiod=limits.fast_window)[-1]
    slow = talib.EMA(closes, timeperiod=limits.slow_window)[-1]
    returns = np.diff(np.log(closes[-limits.slow_window:]))
    vol = float(np.std(returns)) * np.sqrt(limits.slow_window)
    if vol <= 0 or not np.isfinite(fast) or not np.isfinite(slow):
        return 0.0
    return float(np.tanh((fast / slow - 1.0) / vol * 2.0))


def regime_multiplier(bias_multiplier: float, limits: PlanLimits) -> float:
    """The preset's regime_sensitivity blends the regime's multiplier with 1 (0 = ignore the regime)."""
    return 1.0 - limits.regime_sensitivity * (1.0 - bias_multiplier)


def make_plan(
    closes: dict[str, np.ndarray],
    positions: dict[str, float],
    equity: float,
    limits: PlanLimits,
    bias: BiasMultiplier | None = None,
    size_cap: SizeCap | None = None,
    regime_name: str | None = None,
) -> list[PlannedTrade]:
    """Target weights proportional to the trend signal, capped per name, scaled to the preset's exposure."""
    signals = {s: trend_signal(np.asarray(c, dtype=float), limits) for s, c in closes.items() if len(c)}
    if not limits.allow_short:
        signals = {s: max(0.0, v) for s, v in signals.items()}
    total = sum(abs(v) for v in signals.values())
    scale = limits.gross_exposure / total if total > 0 else 0.0
    trades = []
    for symbol, signal in sorted(signals.items()):
        price = float(closes[symbol][-1])
        side = 1.0 if signal >= 0 else -1.0
        regime_scale = regime_multiplier(bias(side), limits) if bias is not None else 1.0
        weight = float(np.clip(signal * scale * regime_scale, -limits.max_weight, limits.max_weight))
        target_qty = float(np.floor(abs(weight) * equity / price)) * np.sign(weight) if price > 0 else 0.0
        current = positions.get(symbol, 0.0)
        adding = abs(target_qty) > abs(current) and target_qty * current >= 0
        if adding and size_cap is not None:
            room = size_cap(symbol, price, side, abs(current))
            target_qty = float(np.sign(target_qty)) * min(abs(target_qty), abs(current) + max(0.0, room))
        delta = target_qty - current
        if abs(delta) * price < limits.rebalance_threshold * equity and not (target_qty == 0 and current != 0):
            continue
        if delta == 0:
            continue
        reason = f"signal {signal:+.2f} -> weight {weight:+.1%}" + (f" (regime {regime_name})" if regime_name else "")
        trades.append(PlannedTrade(symbol, signal, weight, current, target_qty, delta, price, reason))
    return trades


def plan_frame(trades: list[PlannedTrade]) -> pd.DataFrame:
    return pd.DataFrame([t.__dict__ for t in trades])
