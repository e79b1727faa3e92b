"""Market data records shared by every source, the store and the regime engine.

Prices are floats here (analytics); money crosses broker boundaries as Decimal.
Timestamps are aware UTC datetimes marking the bar's open.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import numpy as np


@dataclass(frozen=True, slots=True)
class Bar:
    symbol: str
    ts: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True, slots=True)
class OptionChain:
    """One snapshot of an underlying's option chain; columns are parallel numpy arrays.

    kind holds "C" or "P"; expiry_days is calendar days to expiry; iv is annualised;
    greeks are per one option (delta in [-1, 1], vega per 1.00 of vol, theta per year).
    """

    underlying: str
    ts: datetime
    spot: float
    expiry_days: np.ndarray
    strike: np.ndarray
    kind: np.ndarray
    iv: np.ndarray
    price: np.ndarray
    delta: np.ndarray
    gamma: np.ndarray
    vega: np.ndarray
    theta: np.ndarray
    open_interest: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return len(self.strike)


@dataclass(frozen=True, slots=True)
class TrueRegime:
    """The simulated market's hidden state at a bar: what detection is scored against."""

    ts: datetime
    trend: str  # "up" | "down" | "sideways"
    volatility: str  # "low" | "medium" | "high"


@dataclass(slots=True)
class MarketUpdate:
    """What one poll of a source produced: new bars, chains, (simulated only) true regimes, and the points of
    an implied-volatility index when the source has one (VIX-like: annualised vol x 100 in ``close``, the bar's
    ts as for chains; the index is not a tradable symbol: it is not in symbols())."""

    bars: list[Bar] = field(default_factory=list)
    chains: list[OptionChain] = field(default_factory=list)
    true_regimes: list[TrueRegime] = field(default_factory=list)
    stale_symbols: list[str] = field(default_factory=list)
    vol_index: list[Bar] = field(default_factory=list)


class MarketDataError(Exception):
    """A source could not produce data; the message says which source, what, and what to do."""


class MarketSource(Protocol):
    """A source of bars. poll() returns whatever is new since the last poll (maybe nothing)."""

    name: str

    def symbols(self) -> list[str]: ...

    def index_symbol(self) -> str: ...

    def poll(self) -> MarketUpdate: ...

    def resume_after(self, last_ts: datetime | None) -> None:
        """Continue after the last bar already stored (restart); None means from the start."""
        ...
