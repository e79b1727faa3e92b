"""The implied-volatility index input (VIX, INDIA VIX, ...): points in index units (annualised vol x 100),
kept in time order beside the classifier's bars and aligned to them like peers: the newest point at or
before each bar, with its age in minutes (the volatility module drops it when older than ValidationRules
StaleDataCheck). Sources publish it in MarketUpdate.vol_index (engine/market)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from engine.market.types import Bar
from engine.regime.inputs import ts_ns
from engine.regime.series import NS_PER_MIN

VolIndexLike = pd.DataFrame | Sequence[Bar] | None  # a frame: timestamp (or ts) and close (or value)


def points(data: VolIndexLike) -> tuple[np.ndarray, np.ndarray]:
    """(UTC ns timestamps, values) of finite positive points, sorted by time."""
    if data is None or len(data) == 0:
        return np.empty(0, np.int64), np.empty(0)
    if isinstance(data, pd.DataFrame):
        tcol = "timestamp" if "timestamp" in data.columns else "ts"
        vcol = "close" if "close" in data.columns else "value"
        ts = pd.DatetimeIndex(pd.to_datetime(data[tcol], utc=True)).as_unit("ns").asi8.astype(np.int64)
        val = data[vcol].to_numpy(dtype=np.float64)
    else:
        ts = np.array([ts_ns(b.ts) for b in data], dtype=np.int64)
        val = np.array([b.close for b in data], dtype=np.float64)
    ok = np.isfinite(val) & (val > 0)
    order = np.argsort(ts[ok], kind="stable")
    return ts[ok][order], val[ok][order]


class VolIndexBuffer:
    """Points newer than the last one are appended; ``trim`` drops those no bar of the buffer can use."""

    def __init__(self) -> None:
        self.ts = np.empty(0, np.int64)
        self.val = np.empty(0)

    def __len__(self) -> int:
        return len(self.ts)

    def add(self, data: VolIndexLike) -> None:
        ts, val = points(data)
        if len(self.ts) and len(ts):
            keep = ts > self.ts[-1]
            ts, val = ts[keep], val[keep]
        if len(ts):
            self.ts = np.concatenate([self.ts, ts])
            self.val = np.concatenate([self.val, val])

    def trim(self, first_bar_ns: int) -> None:
        """Keep the newest point at or before the buffer's first bar and every later one."""
        j = int(np.searchsorted(self.ts, first_bar_ns, side="right")) - 1
        if j > 0:
            self.ts, self.val = self.ts[j:], self.val[j:]

    def align(self, bar_ts: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """(value, age in minutes) per bar, NaN before the first point; None without any point."""
        if not len(self.ts):
            return None
        j = np.searchsorted(self.ts, bar_ts, side="right") - 1
        ok = j >= 0
        k = np.maximum(j, 0)
        return (np.where(ok, self.val[k], np.nan),
                np.where(ok, (bar_ts - self.ts[k]) / NS_PER_MIN, np.nan))
