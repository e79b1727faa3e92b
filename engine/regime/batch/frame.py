"""The replay's DataFrame from the batch columns: the same columns, order, dtypes and values as
``pd.DataFrame([o.to_record(columns) for o in outputs])`` on the incremental path.

Column order: pandas puts the keys of a list of dicts in order of first appearance; rows differ only
in which optional extras they carry (pivots on classified rows, chain extras), so the order is the
union of one template record per row shape, taken in order of each shape's first row. The template
records come from RegimeOutput.to_record itself, so a change there changes both paths alike.
"""
from __future__ import annotations

import dataclasses
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


def build(clf: RegimeClassifier, pieces: list[dict[str, Any]], columns: tuple[str, ...] | None) -> pd.DataFrame:
    if not pieces:
        return pd.DataFrame()
    cols: dict[str, np.ndarray] = {}
    for key in pieces[0]:
        parts = [p[key] for p in pieces if key in p]
        cols[key] = np.concatenate(parts) if len(parts) == len(pieces) else _pad(pieces, key)
    for key in {k for p in pieces for k in p} - cols.keys():
        cols[key] = _pad(pieces, key)
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
        elif key in ("symbol", "param_version"):
            data[key] = np.full(n, clf.symbol if key == "symbol" else clf.version, dtype=object)
        elif key == "regime_transition":
            data[key] = cols["transition"].astype(np.int64)
        elif key in module_cols:
            data[key] = cols[f"mod:{key}"]
        elif key.endswith("_weight") and key[:-7] in module_cols:
            data[key] = cols[f"w:{key[:-7]}"]
        else:
            data[key] = cols[SOURCE.get(key, key)]
    return pd.DataFrame(data)


def _pad(pieces: list[dict[str, Any]], key: str) -> np.ndarray:
    """An optional column some chunks lack: NaN values / not present there."""
    out = []
    for p in pieces:
        n = len(p["ts"])
        out.append(p[key] if key in p else (np.zeros(n, bool) if key.startswith("_present:") else np.full(n, np.nan)))
    return np.concatenate(out)
