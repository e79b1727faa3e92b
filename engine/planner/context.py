"""What every stage reads for one plan, computed once: prices, weights, trend quality, returns, targets, regime stance."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
import talib

from engine.planner.targets import target_weights
from engine.planner.types import Action, PortfolioState, Sequence
from engine.planner.values import number, whole


def trend_quality(closes: np.ndarray, fast: int, slow: int) -> float:
    """EMA fast/slow spread over recent volatility, squashed to [-1, 1]; 0 when history is short (today's rule)."""
    closes = closes[np.isfinite(closes)]
    if len(closes) < slow + 2:
        return 0.0
    f = talib.EMA(closes, timeperiod=fast)[-1]
    s = talib.EMA(closes, timeperiod=slow)[-1]
    vol = float(np.std(np.diff(np.log(closes[-slow:])))) * np.sqrt(slow)
    if vol <= 0 or not np.isfinite(f) or not np.isfinite(s):
        return 0.0
    return float(np.tanh((f / s - 1.0) / vol * 2.0))


def regime_stance(regime: str | None) -> str | None:
    """bull / bear / sideways from the engine's regime names (Bullish_*, Bearish_*, Sideways_*, Neutral_*)."""
    if not regime:
        return None
    low = regime.lower()
    if "bull" in low:
        return "bull"
    if "bear" in low:
        return "bear"
    return "sideways"


@dataclass
class PlanContext:
    state: PortfolioState
    params: dict[str, object]
    prices: dict[str, float]
    equity: float
    weights: dict[str, float]  # current, of equity
    quality: dict[str, float]  # trend quality per symbol, -1..1
    returns: pd.DataFrame  # daily simple returns over the lookback, one column per symbol
    targets: dict[str, float]  # target weights, of equity
    stance: str | None
    notes: list[str] = field(default_factory=list)  # what the plan left out and why (a symbol with bad closes)

    @cached_property
    def matrix(self) -> np.ndarray:
        """Recent returns as an array (rows: days, columns: `columns`), read once per plan by the scoring."""
        return self.returns.to_numpy(dtype=float)

    @cached_property
    def columns(self) -> dict[str, int]:
        return {str(s): i for i, s in enumerate(self.returns.columns.tolist())}  # tolist: iterating an Index is slow

    @cached_property
    def mean_returns(self) -> np.ndarray:
        return self.matrix.mean(axis=0) if len(self.matrix) else np.zeros(len(self.columns))

    @cached_property
    def quality_vector(self) -> np.ndarray:
        return np.array([self.quality.get(s, 0.0) for s in self.columns])

    def p(self, key: str) -> float:
        return number(self.params, key)

    def on(self, key: str) -> bool:
        return bool(self.params[key])

    @property
    def sensitivity(self) -> float:
        return self.p("regime.sensitivity")

    def held(self, symbol: str) -> float:
        h = self.state.positions.get(symbol)
        return h.qty if h is not None else 0.0

    def tradable(self, symbol: str) -> bool:
        return symbol in self.prices and symbol not in self.state.open_symbols


def ffill(values: np.ndarray) -> np.ndarray:
    """DataFrame.ffill() on a float array (a NaN takes the last value above it in its column): the same
    values without building frames; `values` itself when nothing is missing (the usual case)."""
    missing = np.isnan(values)
    if not missing.any():
        return values
    rows = np.where(missing, 0, np.arange(len(values))[:, None])
    np.maximum.accumulate(rows, axis=0, out=rows)
    return values[rows, np.arange(values.shape[1])]


def last_prices(filled: np.ndarray, columns: list[str]) -> dict[str, float]:
    """PortfolioState.prices from the forward-filled closes: each symbol's last positive close."""
    if not len(filled):
        return {}
    return {str(s): float(v) for s, v in zip(columns, filled[-1], strict=True) if v > 0}


def returns_of(closes: np.ndarray) -> np.ndarray:
    """frame.pct_change(fill_method=None).iloc[1:].fillna(0.0) on the closes' array: pandas computes
    close / previous close - 1 elementwise, so the same operations give the same floats (a zero close: inf)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = closes[1:] / closes[:-1] - 1.0
    out[np.isnan(out)] = 0.0
    return out


def build_context(state: PortfolioState, params: dict[str, object]) -> PlanContext:
    """The plan's shared inputs. The closes are forward-filled once, as an array: the pandas steps this
    replaces (three ffills of the whole history, column selections, pct_change) were most of its cost."""
    history = state.history
    columns = history.columns
    filled = ffill(np.ascontiguousarray(history.to_numpy(dtype=float)))  # row-major, as pandas' results were
    lookback = whole(params, "targets.lookback")
    fast, slow = whole(params, "calculators.trend.fast_window"), whole(params, "calculators.trend.slow_window")
    window = max(lookback, slow + 2)
    filled, columns, notes = without_bad_closes(filled, columns, history.index, window)
    names = columns.tolist()  # iterating a pandas Index element by element is slow
    prices = last_prices(filled, names)
    equity = state.cash + sum(h.qty * prices.get(s, h.avg_price) for s, h in state.positions.items())
    weights = {s: h.qty * prices.get(s, h.avg_price) / equity for s, h in state.positions.items()} if equity > 0 else {}
    closes = filled[-window:]
    quality = {str(s): trend_quality(closes[:, i], fast, slow) for i, s in enumerate(names)}
    recent = closes[-lookback:]
    recent_index = history.index[-window:][-lookback:]
    # copy=False on row-major arrays: the frames hold them as they are, row-major, as the pandas results they
    # replace did (the scoring's and the optimisers' sums then run over memory in the same order)
    returns = pd.DataFrame(returns_of(recent), index=recent_index[1:], columns=columns, copy=False)
    stance = regime_stance(state.regime)
    invested = 1.0 - number(params, "targets.cash_reserve")
    sens = number(params, "regime.sensitivity")
    if stance == "bear":
        invested *= 1.0 - 0.5 * sens  # a bear regime, followed fully, halves the invested share
    ranked = sorted((s for s in quality if s in prices), key=lambda s: -quality[s])
    min_signal = number(params, "calculators.trend.min_signal")
    universe = [s for s in ranked if quality[s] > min_signal][: whole(params, "targets.universe_size")]
    frame = pd.DataFrame(recent, index=recent_index, columns=columns, copy=False)
    targets = target_weights(str(params["targets.method"]), frame, universe, number(params, "targets.max_weight"),
                             invested, state.fixed_targets, values=recent)
    return PlanContext(state, params, prices, equity, weights, quality, returns, targets, stance, notes)


def without_bad_closes(filled: np.ndarray, columns: pd.Index, index: pd.Index, window: int
                       ) -> tuple[np.ndarray, pd.Index, list[str]]:
    """The closes without the symbols whose recent closes (the `window` rows planned on) hold a zero or negative
    price: its log return is -inf, and one such symbol made every sequence's score NaN (the plan silently became
    "hold"). Such a symbol is left out of the plan, and a note names it and why."""
    bad = (filled[-window:] <= 0).any(axis=0)
    if not bad.any():
        return filled, columns, []
    notes = []
    for i in np.flatnonzero(bad):
        row = int(np.flatnonzero(filled[-window:, i] <= 0)[-1]) + max(0, len(filled) - window)
        notes.append(f"{columns[int(i)]} left out of this plan: its close on {str(index[row])[:10]} is "
                     f"{filled[row, i]:g} (a price must be positive; bad market data)")
    keep = np.flatnonzero(~bad)
    return np.ascontiguousarray(filled[:, keep]), columns[keep], notes


Candidates = dict[str, list[Action]]  # calculator name -> its candidates, best first
Calculator = Callable[[PlanContext], list[Action]]
Pattern = Callable[[PlanContext, Candidates], list[list[Action]]]
SequenceGenerator = Callable[[PlanContext, list[tuple[str, list[Action]]]], list[Sequence]]
Filter = Callable[[PlanContext, list[Sequence]], list[Sequence]]
