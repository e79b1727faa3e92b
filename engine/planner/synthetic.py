"""Seeded synthetic portfolios (geometric random walks with per-symbol drift) for benchmarks and tests."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from engine.planner.types import Holding, PortfolioState

NOW = datetime(2026, 12, 1, 21, 0, tzinfo=UTC)


def history(symbols: int = 60, bars: int = 300, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    drift = rng.normal(0.0003, 0.0015, symbols)
    vol = rng.uniform(0.008, 0.03, symbols)
    steps = rng.normal(drift, vol, (bars, symbols))
    closes = 20 + 180 * rng.random(symbols) * np.exp(np.cumsum(steps, axis=0))
    index = pd.date_range(end=NOW, periods=bars, freq="D")
    return pd.DataFrame(closes, index=index, columns=[f"S{i:02d}" for i in range(symbols)])


def portfolio(positions: int = 30, symbols: int = 60, cash: float = 50_000.0, seed: int = 1,
              **kwargs: Any) -> PortfolioState:
    """`positions` holdings of about 5,000 each, bought 100 bars ago at that bar's close."""
    hist = history(symbols, seed=seed)
    held = {}
    for s in hist.columns[:positions]:
        price = float(hist[s].iloc[-100])
        held[s] = Holding(s, float(max(1, int(5_000 / price))), price, NOW - timedelta(days=100))
    return replace(PortfolioState(positions=held, cash=cash, history=hist, now=NOW), **kwargs)
