"""Batch replay: classify a whole history with the same code path as the live cycle.

Row t uses bars <= t only (the classifier is fed the full history once and steps bar by bar;
every vectorised indicator is causal). Output columns: the OutputFormat columns that apply, in the
workbook's order, then the engine's extra columns (see RegimeOutput.to_record).

Two implementations give the same DataFrame: the batch path (engine/regime/batch, arrays and one
tight state-machine loop; the default) and the incremental classifier (the live path and the
reference), used when ``engine="incremental"`` or when engine.regime.batch.unsupported_reason says
the batch path does not cover the configuration.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

import pandas as pd

from engine.market.types import OptionChain
from engine.params.paramset import ParamSet
from engine.params.typed import Parameters
from engine.regime import batch
from engine.regime.classifier import RegimeClassifier
from engine.regime.types import RegimeOutput

log = logging.getLogger(__name__)
Engine = Literal["auto", "batch", "incremental"]


def output_columns(params: ParamSet) -> tuple[str, ...]:
    return tuple(str(r.column_name) for r in Parameters(params).output_format.rows)


def records(outputs: list[RegimeOutput], params: ParamSet, all_fields: bool = False) -> pd.DataFrame:
    cols = None if all_fields else output_columns(params)
    return pd.DataFrame([o.to_record(cols) for o in outputs])


def replay(df: pd.DataFrame, params: ParamSet, chains: Mapping[Any, OptionChain] | Iterable[OptionChain | None] | None = None,
           peers: Mapping[str, pd.DataFrame] | None = None, symbol: str = "",
           progress: Callable[[int, int], None] | None = None, chunk: int = 5_000,
           engine: Engine = "auto", all_fields: bool = False, vol_index: pd.DataFrame | None = None) -> pd.DataFrame:
    """Classify every bar of ``df`` (timestamp, open, high, low, close, volume) -> one record per bar.

    ``progress(done, total)`` is called after each chunk of bars (for background callbacks); chunking
    does not change the answers, since feeding bars in pieces is exactly the live path.
    ``engine``: "auto" (batch where supported), "batch" (same, named for tests) or "incremental".
    ``all_fields``: every record field, not only the workbook's OutputFormat columns (callers that
    read fields by name, e.g. the what-if, do not depend on a user's OutputFormat sheet).
    ``vol_index``: implied-volatility index points (timestamp, close), e.g. a VIX file (engine/regime/vol_index.py).
    """
    if replay_engine(params, len(df), engine) == "batch":
        try:
            return batch.replay(df, params, chains, peers, symbol, None if all_fields else output_columns(params),
                                progress, chunk, vol_index)
        except batch.Fallback as exc:
            log.info("regime replay: incremental path (%s)", exc)
    clf = RegimeClassifier(params, symbol)
    outs: list[RegimeOutput] = []
    if progress is None or len(df) <= chunk:
        outs = clf.update_many(df, chains, peers, vol_index)
        if progress is not None:
            progress(len(df), len(df))
        return records(outs, params, all_fields)
    clf.update_many(df.iloc[:0], chains, peers, vol_index)  # register chains/peers once; they apply by timestamp
    for start in range(0, len(df), chunk):
        outs += clf.update_many(df.iloc[start:start + chunk])
        progress(min(start + chunk, len(df)), len(df))
    return records(outs, params, all_fields)


def replay_engine(params: ParamSet, n_bars: int, engine: Engine = "auto") -> Literal["batch", "incremental"]:
    """Which implementation replay() uses for this configuration (logged when it is the fallback)."""
    if engine == "incremental":
        return "incremental"
    why = batch.unsupported_reason(params, n_bars)
    if why is not None:
        log.info("regime replay: incremental path (%s)", why)
        return "incremental"
    return "batch"
