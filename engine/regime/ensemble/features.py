"""Feature rows of the ensemble: what the rule-based classifier measured at a bar plus short return
statistics of the closes up to that bar (causal: row t uses rows <= t only).

Columns of the input frame (replay records or live outputs): close, trend, vol, raw, adx, label.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from engine.regime.types import RegimeOutput

RV_BARS = 20  # realised-volatility and momentum window (bars)
HISTORY_BARS = RV_BARS + 1  # rows a feature row needs
FEATURES = ("trend", "log_vol", "raw", "adx", "ret1", "log_rv", "mom", "prev_label")
N_CONTINUOUS = 7  # the first columns; the last is the previous bar's rule-based regime id (-1: none), which
# carries the stability rules' memory (a held regime) to the tree models; the HMM and GMM use the others
FRAME_COLUMNS = ["ts", "close", "trend", "vol", "raw", "adx", "label"]


def frame_from_records(rec: pd.DataFrame) -> pd.DataFrame:
    """The replay's records (engine.regime.replay) -> the ensemble's input frame (warm-up rows dropped)."""
    ok = ~rec["warmup"].astype(bool)
    r = rec[ok]
    return pd.DataFrame({"ts": pd.to_datetime(r["timestamp"], utc=True), "close": r["underlying_spot"].astype(float),
                         "trend": r["trend_component"].astype(float), "vol": r["volatility_value"].astype(float),
                         "raw": r["raw_score"].astype(float), "adx": r["adx"].astype(float),
                         "label": r["regime_id"].astype(int)}).reset_index(drop=True)


def row_of(out: RegimeOutput) -> dict[str, Any]:
    """One live output -> one input-frame row (same fields as frame_from_records)."""
    return {"ts": out.ts, "close": float(out.extras.get("underlying_spot", np.nan)), "trend": out.trend_component,
            "vol": out.volatility_component, "raw": out.raw_score, "adx": out.adx, "label": out.regime_id}


def matrix(frame: pd.DataFrame | dict[str, np.ndarray]) -> np.ndarray:
    """(n, len(FEATURES)) float matrix; non-finite readings become 0 after the transforms. ``frame`` may be a
    dict of column arrays (the live step avoids building a DataFrame per bar)."""
    close = np.asarray(frame["close"], dtype=float)
    ret = np.r_[0.0, np.diff(np.log(np.maximum(close, 1e-12)))] if len(close) else np.zeros(0)
    rv, mom = _window_stats(ret)
    vol = np.asarray(frame["vol"], dtype=float)
    x = np.column_stack([
        np.asarray(frame["trend"], dtype=float) * 100.0, np.log(np.maximum(vol, 1e-4)),
        np.asarray(frame["raw"], dtype=float), np.asarray(frame["adx"], dtype=float) / 50.0,
        ret * 100.0, np.log(np.maximum(rv, 1e-6)), mom * 100.0,
    ]) if len(close) else np.zeros((0, N_CONTINUOUS))
    prev = np.r_[-1.0, np.asarray(frame["label"], dtype=float)[:-1]] if len(close) else np.zeros(0)
    return np.column_stack([np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0), prev])


def _window_stats(ret: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Std and sum of the last RV_BARS returns per row, each window computed on its own (no running sums),
    so a row's value is bit-identical whether the series is 21 rows or 100,000 rows long."""
    n = len(ret)
    padded = np.r_[np.full(RV_BARS - 1, np.nan), ret]
    win = np.lib.stride_tricks.sliding_window_view(padded, RV_BARS)[:n]
    count = np.sum(np.isfinite(win), axis=1)
    mom = np.nansum(win, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = mom / count
        rv = np.sqrt(np.nansum((win - mean[:, None]) ** 2, axis=1) / np.maximum(count - 1, 1))
    return np.where(count >= 2, rv, 0.0), mom
