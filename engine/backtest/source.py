"""Replay validated OHLCV frames as a MarketSource, one distinct timestamp per poll (like the CSV source).

The backtest needs to know the next bar's time before it polls (to set the simulated clock to that
bar's end, when the live engine would have received it), which the CSV source does not expose.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from engine.market.csv_source import COLUMNS
from engine.market.csv_vol_index import VolIndexCursor
from engine.market.types import Bar, MarketUpdate

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class FrameReplaySource:
    """MarketSource over {symbol: frame(timestamp, open, high, low, close, volume)}; `poll` returns the bars
    of the next distinct timestamp across all symbols (the CSV source's semantics with bars_per_poll=1)."""

    name = "csv"

    def __init__(self, frames: dict[str, pd.DataFrame], index_symbol: str,
                 vol_index: pd.DataFrame | None = None, vol_index_symbol: str | None = None) -> None:
        """`vol_index`: implied-volatility index points (timestamp, close) handed out with the polls, as the CSV
        source hands out its VIX.csv: each poll carries the points after the previous poll's up to its bars' time."""
        self._symbols = sorted(frames)
        self._index = index_symbol
        long = pd.concat([f[list(COLUMNS)].assign(symbol=s) for s, f in sorted(frames.items())], ignore_index=True)
        long = long.sort_values(["timestamp", "symbol"], kind="stable", ignore_index=True)
        tvals = long["timestamp"].dt.tz_convert(None).to_numpy().astype("datetime64[us]")
        self._times = np.unique(tvals)
        self._sym = long["symbol"].to_numpy(dtype=object)
        self._us = tvals.astype(np.int64)
        self._ohlcv = [long[c].to_numpy(dtype=float) for c in COLUMNS[1:]]
        self._starts = np.searchsorted(tvals, self._times, side="left")
        self._ends = np.searchsorted(tvals, self._times, side="right")
        self._cursor = 0
        self._vol_points = VolIndexCursor(vol_index, vol_index_symbol or "VIX")

    def vol_index_symbol(self) -> str | None:
        return self._vol_points.name if self._vol_points.frame is not None else None

    def symbols(self) -> list[str]:
        return list(self._symbols)

    def index_symbol(self) -> str:
        return self._index

    def __len__(self) -> int:
        return len(self._times)

    @property
    def position(self) -> int:
        return self._cursor

    def next_ts(self) -> datetime | None:
        """The time of the bars the next poll returns (None when the history is exhausted)."""
        if self._cursor >= len(self._times):
            return None
        return _EPOCH + timedelta(microseconds=int(self._times[self._cursor].astype(np.int64)))

    def poll(self) -> MarketUpdate:
        i = self._cursor
        if i >= len(self._times):
            return MarketUpdate()
        self._cursor = i + 1
        a, b = int(self._starts[i]), int(self._ends[i])
        cols = [c[a:b].tolist() for c in self._ohlcv]
        bars = [Bar(sym, _EPOCH + timedelta(microseconds=us), *vals)
                for sym, us, *vals in zip(self._sym[a:b].tolist(), self._us[a:b].tolist(), *cols, strict=True)]
        have = {bar.symbol for bar in bars}
        return MarketUpdate(bars=bars, stale_symbols=[s for s in self._symbols if s not in have],
                            vol_index=self._vol_points.points(self._times[i]))

    def last_polled_us(self) -> int | None:
        """The time (UTC microseconds) of the newest bars handed out; None before the first poll."""
        return int(self._times[self._cursor - 1].astype(np.int64)) if self._cursor else None

    def resume_after(self, last_ts: datetime | None) -> None:
        if last_ts is None:
            self._cursor = 0
            self._vol_points.resume_after(None)
            return
        naive = np.datetime64(last_ts.astimezone(UTC).replace(tzinfo=None), "us")
        self._cursor = int(np.searchsorted(self._times, naive, side="right"))
        self._vol_points.resume_after(naive)

    def has_bar(self, symbol: str) -> bool:
        """Does the next poll carry a bar of `symbol`?"""
        i = self._cursor
        if i >= len(self._times):
            return False
        return symbol in self._sym[int(self._starts[i]):int(self._ends[i])]
