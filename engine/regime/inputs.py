"""Input conversion for the classifier: bars as DataFrame / Bar / list of Bar, timestamps as UTC ns."""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from engine.market.types import Bar, OptionChain
from engine.regime.series import PriceBuffer
from engine.regime.types import RegimeError

BarsLike = pd.DataFrame | PriceBuffer | Bar | Sequence[Bar]  # a PriceBuffer: the classifier's own pieces
ChainsLike = Mapping[Any, OptionChain] | Iterable[OptionChain | None] | None


def ts_ns(ts: Any) -> int:
    return int(pd.Timestamp(ts).tz_convert("UTC").value) if pd.Timestamp(ts).tzinfo else int(pd.Timestamp(ts, tz="UTC").value)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ts_datetime(ns: int) -> datetime:
    return _EPOCH + timedelta(microseconds=ns // 1000)


def to_buffer(bars: BarsLike) -> PriceBuffer:
    if isinstance(bars, PriceBuffer):
        return bars
    if isinstance(bars, pd.DataFrame):
        df = bars if "timestamp" in bars.columns else bars.rename(columns={"ts": "timestamp"})
        if "timestamp" not in df.columns:
            raise RegimeError("regime: bars need a 'timestamp' column (UTC) plus open, high, low, close, volume")
        return PriceBuffer.from_frame(df)
    if isinstance(bars, Bar):
        bars = [bars]
    bars = list(bars)
    return PriceBuffer(
        np.array([ts_ns(b.ts) for b in bars], dtype=np.int64),
        *(np.array([getattr(b, c) for b in bars], dtype=np.float64) for c in ("open", "high", "low", "close", "volume")))
