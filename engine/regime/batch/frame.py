"""The replay's DataFrame from the batch columns: the same columns, order, dtypes and values as
``pd.DataFrame([o.to_record(columns) for o in outputs])`` on the incremental path.

Column order: pandas puts the keys of a list of dicts in order of first appearance; rows differ only
in which optional extras they carry (pivots on classified rows, chain extras), so the order is the
union of one template record per row shape, taken in order of each shape's first row. The template
records come from RegimeOutput.to_record itself, so a change there changes both paths alike.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from engine.regime import outputs

if TYPE_CHECKING:
    from engine.regime.classifier import RegimeClassifier

OPTIONAL = ("support1_classic", "resistance1_classic", "atm_straddle", "vanna", "charm", "volga")

SOURCE = {  # record column -> batch column
    "timestamp": "ts", "confidence_score": "confidence", "regime_score": "raw_score",
    "regime_persistence_score": "persistence", "stability_checks_passed": "checks", "regime_transition": "transition",
    "volatility_component": "vol_code", "trend_class": "trend_code", "vol_class": "atr_vol_class_code",
    "regime_color": "color",
}


def _key_order(clf: RegimeClassifier, columns: tuple[str, ...] | None, shapes: list[frozenset[str]]) -> list[str]:
    base = outputs.warmup_output(clf, len(clf.buf) - 1, "")
    order: dict[str, None] = {}
    for shape in shapes:
        rec = dataclasses.replace(base, extras={k: 0.0 for k in ("underlying_spot", *sorted(shape))}).to_record(columns)
        order.update(dict.fromkeys(rec))
    return list(order)


def build(clf: RegimeClassifier, cols: dict[str, Any], columns: tuple[str, ...] | None) -> pd.DataFrame:
    """The DataFrame of one replay's columns (texts arrive as Coded: a string column built by one take)."""
    n = len(cols["ts"])
    code = np.zeros(n, np.int64)
    for j, key in enumerate(OPTIONAL):
        present = cols.get(f"_present:{key}")
        if present is not None:
            code |= present.astype(np.int64) << j
    uniq, first = np.unique(code, return_index=True)
    shapes = [frozenset(k for j, k in enumerate(OPTIONAL) if (int(c) >> j) & 1) for c in uniq[np.argsort(first)]]
    module_cols = {m.column for m in clf.modules}
    data: dict[str, Any] = {}
    for key in _key_order(clf, columns, shapes):
        if key == "timestamp":
            data[key] = pd.DatetimeIndex((cols["ts"] // 1000).astype("datetime64[us]")).tz_localize("UTC")
            continue
        if key in ("symbol", "param_version"):
            got: Any = Coded(np.zeros(n, np.int64), [clf.symbol if key == "symbol" else clf.version])
        elif key == "regime_transition":
            got = cols["transition"].astype(np.int64)
        elif key in module_cols:
            got = cols[f"mod:{key}"]
        elif key.endswith("_weight") and key[:-7] in module_cols:
            got = cols[f"w:{key[:-7]}"]
        else:
            got = cols[SOURCE.get(key, key)]
        data[key] = got.strings() if isinstance(got, Coded) else got
    return pd.DataFrame(data, copy=False)  # every array is fresh: no copy, no block consolidation


@dataclass
class Coded:
    """A text column as codes into a small table of distinct texts (each text built once)."""

    codes: np.ndarray
    table: list[str]

    def strings(self) -> Any:
        """The column as pandas builds it from the record dicts (inferred string dtype), by one take."""
        return pd.Series(self.table).array.take(self.codes)
