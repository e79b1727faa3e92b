"""Batch regime replay over arrays, identical in output to feeding the incremental classifier.

Why: the live classifier steps every bar through modules, weighting, formation and stability as
Python objects (~200-400 us a bar); a what-if or a backtest over a year of minute bars needs seconds.
Here the classifier's own buffering and module ``prepare`` calls run unchanged, chunk by chunk (so
every indicator is the same array, buffer starts included; batch/chunk.py ``collect``), then once over
the whole history: the per-bar arithmetic over arrays (batch/inputs.py, batch/vectors.py) and the
stability / transition state machine as one compiled loop (batch/kernel.py, tables from the live
TransitionPolicy in batch/tables.py). No RegimeOutput objects are built: the records come out as
columns (batch/frame.py).

Supported: every parameter set the incremental path accepts, with or without option chains and peers
(option-chain modules and correlation with peers are stepped row by row, as live). Not supported (the
replay falls back to the incremental path, see ``unsupported_reason``): an ATR, multi-timeframe or
volume-profile module marked as needing option-chain data in IndicatorConfiguration RequiresData,
a RegimeClassification without a regime for some (trend class, volatility class) pair (the live path
raises only if that pair is ever reached), and histories of INTERVAL_PROBE bars or fewer.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from engine.market.types import OptionChain
from engine.params.paramset import ParamSet
from engine.regime.batch import chunk, frame
from engine.regime.batch.modules import VECTOR
from engine.regime.classifier import MAX_BUFFER, RegimeClassifier
from engine.regime.inputs import to_buffer
from engine.regime.modules.volume_profile import VolumeProfileModule
from engine.regime.series import INTERVAL_PROBE, PriceBuffer, local_clock
from engine.regime.types import RegimeOutput


class Fallback(Exception):
    """The batch path met a case it does not cover; the caller replays incrementally instead."""


class BatchClassifier(RegimeClassifier):
    """RegimeClassifier whose chunks are classified over arrays into record columns (``pieces``)."""

    def __init__(self, params: ParamSet, symbol: str = "", *, max_buffer: int = MAX_BUFFER) -> None:
        super().__init__(params, symbol, max_buffer=max_buffer)
        self.pieces: list[chunk.ChunkData] = []

    def _classify(self, rows_idx: np.ndarray, first_global: int) -> list[RegimeOutput]:
        fr = self._frame(rows_idx)
        for m in self.modules:
            if not isinstance(m, VolumeProfileModule):  # read as arrays (batch/modules.py)
                m.prepare(fr)
        self.pieces.append(chunk.collect(self, fr, rows_idx, first_global))
        return []


def unsupported_reason(params: ParamSet, n_bars: int) -> str | None:
    """Why the batch path cannot replay this configuration (None: it can)."""
    if n_bars <= INTERVAL_PROBE:
        return f"{n_bars} bars: too few to vectorise (the bar interval needs {INTERVAL_PROBE + 1})"
    key = str(getattr(params, "content_hash", "") or "")
    if key and key in _REASONS:
        return _REASONS[key]
    why = _config_reason(params)
    if key:
        if len(_REASONS) >= 32:
            _REASONS.pop(next(iter(_REASONS)))
        _REASONS[key] = why
    return why


_REASONS: dict[str, str | None] = {}  # by parameter content hash


def _config_reason(params: ParamSet) -> str | None:
    probe = RegimeClassifier(params)
    for m in probe.modules:
        if isinstance(m, VECTOR) and m.needs_chain:
            return f"IndicatorConfiguration {m.name} RequiresData names option-chain data"
    f = probe.formation
    pairs = {(r.trend_class, r.vol_class) for r in f.regimes}
    missing = [(t.name, v.name) for t in f.trend for v in f.vol if (t.name, v.name) not in pairs]
    if missing:
        return f"RegimeClassification has no regime for trend {missing[0][0]} and volatility {missing[0][1]}"
    return None


def replay(df: pd.DataFrame, params: ParamSet, chains: Mapping[Any, OptionChain] | Iterable[OptionChain | None] | None,
           peers: Mapping[str, pd.DataFrame] | None, symbol: str, columns: tuple[str, ...] | None,
           progress: Callable[[int, int], None] | None = None, chunk_bars: int = 5_000,
           vol_index: pd.DataFrame | None = None) -> pd.DataFrame:
    """engine.regime.replay's batch path: the same feeding schedule, records built from columns."""
    clf = BatchClassifier(params, symbol)
    bars = to_buffer(df)  # converted once; update_many takes a PriceBuffer (or slices of it) as it is
    if len(bars) > 1 and bool((np.diff(bars.ts) > 0).all()):  # else update_many says what is wrong
        local_clock(bars.ts, clf.clock.tz)  # the whole history's local clock at once: each buffer slices it
    if progress is None or len(df) <= chunk_bars:
        if clf.update_many(bars, chains, peers, vol_index):
            raise Fallback("warm-up rows before the bar interval is known")
        if progress is not None:
            progress(len(df), len(df))
    else:
        clf.update_many(df.iloc[:0], chains, peers, vol_index)
        for start in range(0, len(df), chunk_bars):
            if clf.update_many(PriceBuffer(*(a[start:start + chunk_bars] for a in bars.arrays()))):
                raise Fallback("warm-up rows before the bar interval is known")
            progress(min(start + chunk_bars, len(df)), len(df))
    if not clf.pieces:
        raise Fallback("no rows classified")
    return frame.build(clf, chunk.classify(clf, chunk.concat(clf.pieces)), columns)
