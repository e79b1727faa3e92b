"""The shapes of context that engine functions take, as protocols.

engine.context.EngineContext satisfies all of them; engine.trading.control_types.SimpleControlContext
(tests, benchmarks, tools) satisfies ControlContext. Members are read-only properties so frozen
dataclasses fit too. Store and Broker are imported for annotations only: this module stays at the
bottom of the layering (engine.clock only at run time) and creates no import cycle.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from engine.clock import Clock

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from engine.store.db import Store
    from engine.trading.brokers.base import Broker


class ClockContext(Protocol):
    """Anything with a wall clock (the lease fence, the market clock fallback)."""

    @property
    def clock(self) -> Clock: ...


class StoreContext(ClockContext, Protocol):
    """A store and a wall clock: health checks, dead-man reads and incidents."""

    @property
    def store(self) -> Store: ...


class ControlContext(StoreContext, Protocol):
    """What a trade control needs: a store, a wall clock and a broker."""

    @property
    def broker(self) -> Broker: ...


class BarHistory(Protocol):
    """A backtest's bars in memory, cut at the newest bar stored: the same rows the store's bar reads return
    (engine/backtest/history.py). Live engines have none and read the store."""

    def recent(self, symbol: str, n: int) -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray, np.ndarray]: ...

    def closes(self, symbols: Sequence[str], anchor: str, lookback: int) -> pd.DataFrame: ...
