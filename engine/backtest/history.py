"""A backtest's market history in memory: the bars the store holds, without reading them back from it.

A backtest stores every bar it hands out (engine.jobs.store_market_update) and the live readers (the
planner's closes and ATR, the risk cycle's returns) read them back from the store every bar. The run
already holds these bars: `RunBars` answers the same questions from the run's frames, cut at the newest
bar the source has handed out, so no reader can see a later bar (no look-ahead) and every answer equals
the store read's (tests/unit/test_backtest_history.py compares them on the store).
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from engine.backtest.source import FrameReplaySource

_NO_TIME = np.iinfo(np.int64).min
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # bar times as the source builds them (the store returns them so)


class RunBars:
    """The run's bars per symbol (times in microseconds, UTC) and the newest time handed out so far."""

    def __init__(self, frames: dict[str, pd.DataFrame], source: FrameReplaySource) -> None:
        self._source = source
        self._index: dict[str, pd.DatetimeIndex] = {}
        self._us: dict[str, np.ndarray] = {}
        self._hlc: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._last_stored: dict[str, np.ndarray] = {}
        for sym, f in frames.items():
            idx = pd.DatetimeIndex(f["timestamp"]).tz_convert("UTC").as_unit("us").rename(None)  # as the store returns them
            self._index[sym] = idx
            self._us[sym] = idx.asi8
            high, low, close = (np.ascontiguousarray(f[c].to_numpy(dtype=float)) for c in ("high", "low", "close"))
            self._hlc[sym] = (high, low, close)
            # per bar, the newest bar up to it whose close the market job stores (positive, finite), else -1
            stored = np.isfinite(close) & (close > 0)
            self._last_stored[sym] = np.maximum.accumulate(np.where(stored, np.arange(len(close)), -1))
        wide = pd.concat({s: pd.Series(self._hlc[s][2], index=self._index[s]) for s in sorted(frames)}, axis=1, sort=True)
        self._wide_index = pd.DatetimeIndex(wide.index)
        self._wide_us = self._wide_index.asi8
        self._wide = wide.to_numpy(dtype=float)
        self._wide_cols = {s: i for i, s in enumerate(wide.columns)}

    def _stored(self, symbol: str) -> int:
        """How many of `symbol`'s bars are stored now (handed out by the source)."""
        last = self._source.last_polled_us()
        us = self._us.get(symbol)
        if us is None or last is None:
            return 0
        return int(np.searchsorted(us, last, side="right"))

    def recent(self, symbol: str, n: int) -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray, np.ndarray]:
        """The newest `n` stored bars of `symbol`, oldest first: (times, high, low, close)."""
        end = self._stored(symbol)
        start = max(0, end - n)
        if symbol not in self._index:  # the empty answers are built only when asked for (not on every call)
            empty = np.empty(0)
            return pd.DatetimeIndex([], tz="UTC").as_unit("us"), empty, empty.copy(), empty.copy()
        high, low, close = self._hlc[symbol]
        return self._index[symbol][start:end], high[start:end], low[start:end], close[start:end]

    def closes(self, symbols: Sequence[str], anchor: str, lookback: int) -> pd.DataFrame:
        """Stored closes of `symbols` (rows: every time one of them has a bar; columns: the symbols with a bar),
        from the `lookback`-th newest bar of `anchor` on: the risk history's pivot of the store's rows."""
        last = self._source.last_polled_us()
        anchor_end = self._stored(anchor)
        cutoff = int(self._us[anchor][anchor_end - 1 - lookback]) if anchor_end > lookback else _NO_TIME
        lo = int(np.searchsorted(self._wide_us, cutoff, side="left"))
        hi = int(np.searchsorted(self._wide_us, last, side="right")) if last is not None else 0
        cols = [s for s in sorted(set(symbols)) if s in self._wide_cols]
        block = self._wide[lo:hi][:, [self._wide_cols[s] for s in cols]] if cols else np.empty((max(hi - lo, 0), 0))
        present: np.ndarray = ~np.isnan(block)
        keep_cols = np.asarray(present.any(axis=0), dtype=bool)
        keep_rows = np.asarray(present[:, keep_cols].any(axis=1), dtype=bool)
        names = [s for s, k in zip(cols, keep_cols.tolist(), strict=True) if k]
        frame = pd.DataFrame(block[keep_rows][:, keep_cols], index=self._wide_index[lo:hi][keep_rows],
                             columns=pd.Index(names, name="symbol"))
        frame.index.name = "ts"
        return frame

    def latest(self, symbols: Sequence[str]) -> dict[str, tuple[float, datetime]]:
        """The newest stored close of each of `symbols` (in their order) and its bar time; symbols without a stored
        bar are absent: trading.marks.latest_closes's rows. A bar whose close the market job drops (not a positive
        finite number) was never stored, so an earlier bar answers."""
        out: dict[str, tuple[float, datetime]] = {}
        for sym in symbols:
            end = self._stored(sym)
            if end == 0:
                continue
            i = int(self._last_stored[sym][end - 1])
            if i >= 0:
                out[sym] = (float(self._hlc[sym][2][i]), _EPOCH + timedelta(microseconds=int(self._us[sym][i])))
        return out
