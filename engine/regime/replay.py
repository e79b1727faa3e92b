"""Batch replay: classify a whole history with the same code path as the live cycle.

Row t uses bars <= t only (the classifier is fed the full history once and steps bar by bar;
every vectorised indicator is causal). Output columns: the OutputFormat columns that apply, in the
workbook's order, then the engine's extra columns (see RegimeOutput.to_record).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pandas as pd

from engine.market.types import OptionChain
from engine.regime.classifier import RegimeClassifier
from engine.regime.config import rows
from engine.regime.types import RegimeOutput


def output_columns(params: Any) -> tuple[str, ...]:
    return tuple(str(r.column_name) for r in rows(params, "OutputFormat"))


def records(outputs: list[RegimeOutput], params: Any) -> pd.DataFrame:
    cols = output_columns(params)
    return pd.DataFrame([o.to_record(cols) for o in outputs])


def replay(df: pd.DataFrame, params: Any, chains: Mapping[Any, OptionChain] | Iterable[OptionChain | None] | None = None,
           peers: Mapping[str, pd.DataFrame] | None = None, symbol: str = "",
           progress: Callable[[int, int], None] | None = None, chunk: int = 5_000) -> pd.DataFrame:
    """Classify every bar of ``df`` (timestamp, open, high, low, close, volume) -> one record per bar.

    ``progress(done, total)`` is called after each chunk of bars (for background callbacks); chunking
    does not change the answers, since feeding bars in pieces is exactly the live path.
    """
    clf = RegimeClassifier(params, symbol)
    if progress is None or len(df) <= chunk:
        outs = clf.update_many(df, chains, peers)
        if progress is not None:
            progress(len(df), len(df))
        return records(outs, params)
    outs: list[RegimeOutput] = []
    clf.update_many(df.iloc[:0], chains, peers)  # register chains/peers once; they apply by timestamp
    for start in range(0, len(df), chunk):
        outs += clf.update_many(df.iloc[start:start + chunk])
        progress(min(start + chunk, len(df)), len(df))
    return records(outs, params)
