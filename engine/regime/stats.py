"""Statistics of a classified history for the Regime page: spells, transition matrix, durations
against RegimeParameters. Input: replay()/snapshot records with timestamp, regime_name,
time_in_regime_minutes and warmup.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from engine.params.paramset import ParamSet
from engine.params.typed import Parameters
from engine.regime.formation import Formation


def spells(records: pd.DataFrame) -> pd.DataFrame:
    """One row per uninterrupted stay in a regime: regime_name, start, end, bars, minutes (market minutes)."""
    r = records[~records["warmup"].astype(bool)].reset_index(drop=True)
    if r.empty:
        return pd.DataFrame(columns=["regime_name", "start", "end", "bars", "minutes"])
    name = r["regime_name"].to_numpy()
    new = np.r_[True, name[1:] != name[:-1]]
    sid = np.cumsum(new) - 1
    tir = r["time_in_regime_minutes"].to_numpy(dtype=float)
    steps = np.diff(tir)
    bar = float(np.median(steps[steps > 0])) if (steps > 0).any() else 1.0
    g = pd.DataFrame({"sid": sid, "regime_name": name, "ts": r["timestamp"], "tir": tir})
    out = g.groupby("sid").agg(regime_name=("regime_name", "first"), start=("ts", "first"), end=("ts", "last"),
                               bars=("ts", "size"), last_tir=("tir", "last"), first_tir=("tir", "first"))
    out["minutes"] = out["last_tir"] - out["first_tir"] + bar
    return out.drop(columns=["last_tir", "first_tir"]).reset_index(drop=True)


def transition_matrix(records: pd.DataFrame, params: ParamSet) -> pd.DataFrame:
    """Observed counts of regime changes, rows = from, columns = to, in the workbook's priority order."""
    order = [r.name for r in Formation(params).ordered]
    s = spells(records)["regime_name"].tolist()
    m = pd.DataFrame(0, index=order, columns=order, dtype=int)
    for a, b in zip(s, s[1:], strict=False):
        if a in m.index and b in m.columns:
            m.loc[a, b] += 1
    return m


def duration_stats(records: pd.DataFrame, params: ParamSet) -> pd.DataFrame:
    """Per regime: spells and their durations next to RegimeParameters Min/Typical/MaxDuration.

    The last spell is still open (its duration is a lower bound) and is excluded.
    """
    sp = spells(records).iloc[:-1]
    ref = {str(r.regime_name): (float(r.min_duration), float(r.typical_duration), float(r.max_duration))
           for r in Parameters(params).regime_parameters.rows}
    out = []
    for r in Formation(params).ordered:
        d = sp.loc[sp["regime_name"] == r.name, "minutes"]
        mn, typ, mx = ref.get(r.name, (np.nan, np.nan, np.nan))
        out.append({"regime_name": r.name, "color": r.color, "spells": int(len(d)),
                    "mean_minutes": float(d.mean()) if len(d) else np.nan,
                    "median_minutes": float(d.median()) if len(d) else np.nan,
                    "max_minutes": float(d.max()) if len(d) else np.nan,
                    "min_duration": mn, "typical_duration": typ, "max_duration": mx,
                    "share_below_min": float((d < mn).mean()) if len(d) else np.nan,
                    "share_above_max": float((d > mx).mean()) if len(d) else np.nan})
    return pd.DataFrame(out)
