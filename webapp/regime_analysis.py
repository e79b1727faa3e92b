"""Plain pandas statistics of a regime sequence: segments, the observed transition matrix, durations
against the workbook's RegimeParameters, and the comparison of two classifications of one history.

Why a module of its own: the Regime page shows these for the stored classification and for the
what-if replay alike; they are pure functions of DataFrames, so unit tests call them directly.
A sequence is a DataFrame with columns ts (increasing), regime_id and regime_name, one row per bar.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

SEGMENT_COLUMNS = ["start", "end", "regime_id", "regime_name", "bars", "minutes", "ongoing"]


def bar_interval(ts: pd.Series) -> pd.Timedelta:
    """The typical spacing of the bars (median), one minute when it cannot be measured."""
    if len(ts) < 2:
        return pd.Timedelta(minutes=1)
    return pd.Series(pd.to_datetime(ts)).diff().median()


def segments(seq: pd.DataFrame) -> pd.DataFrame:
    """Runs of one regime: start, end (start of the next run; last one ends a bar after its last row),
    number of bars, minutes, and whether the run is still ongoing (the last one)."""
    if seq.empty:
        return pd.DataFrame(columns=SEGMENT_COLUMNS)
    ts = pd.to_datetime(seq["ts"]).reset_index(drop=True)
    ids = seq["regime_id"].to_numpy()
    names = seq["regime_name"].to_numpy()
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    ends = np.r_[starts[1:], len(ids)]
    end_ts = [ts.iloc[e] if e < len(ts) else ts.iloc[-1] + bar_interval(ts) for e in ends]
    out = pd.DataFrame({
        "start": ts.iloc[starts].to_numpy(), "end": end_ts, "regime_id": ids[starts].astype(int),
        "regime_name": names[starts], "bars": ends - starts,
    })
    out["minutes"] = (pd.to_datetime(out["end"]) - pd.to_datetime(out["start"])).dt.total_seconds() / 60.0
    out["ongoing"] = False
    out.loc[out.index[-1], "ongoing"] = True
    return out


def transition_matrix(seq: pd.DataFrame, names: list[str] | None = None) -> pd.DataFrame:
    """Counts of observed changes from one regime (rows) to the next (columns).

    `names` fixes the order (e.g. the workbook's); regimes absent from it are appended."""
    segs = segments(seq)
    order = list(names or [])
    order += [n for n in dict.fromkeys(segs["regime_name"]) if n not in order]
    matrix = pd.DataFrame(0, index=order, columns=order, dtype=int)
    prev = segs["regime_name"].to_numpy()
    for a, b in zip(prev[:-1], prev[1:], strict=True):
        matrix.loc[a, b] += 1
    return matrix


def duration_stats(segs: pd.DataFrame, catalogue: list[dict[str, Any]]) -> pd.DataFrame:
    """Per regime: completed runs, their mean/median/min/max minutes, and the workbook's expected
    min/typical/max minutes with the share of runs shorter than min or longer than max.

    The ongoing run is left out (its length is not known yet)."""
    done = segs[~segs["ongoing"].astype(bool)] if len(segs) else segs
    rows = []
    for reg in catalogue:
        mins = done.loc[done["regime_id"] == reg["regime_id"], "minutes"].to_numpy(dtype=float)
        lo, hi = reg.get("min_duration"), reg.get("max_duration")
        rows.append({
            "regime_id": reg["regime_id"], "regime_name": reg["regime_name"], "color": reg.get("color"),
            "runs": len(mins),
            "mean": float(mins.mean()) if len(mins) else None,
            "median": float(np.median(mins)) if len(mins) else None,
            "shortest": float(mins.min()) if len(mins) else None,
            "longest": float(mins.max()) if len(mins) else None,
            "expected_min": lo, "expected_typical": reg.get("typical_duration"), "expected_max": hi,
            "below_min_pct": float((mins < lo).mean() * 100) if len(mins) and lo is not None else None,
            "above_max_pct": float((mins > hi).mean() * 100) if len(mins) and hi is not None else None,
        })
    return pd.DataFrame(rows)


def transitions_per_day(seq: pd.DataFrame) -> float | None:
    """Regime changes per 24 hours of covered time (None when the span is too short to say)."""
    if len(seq) < 2:
        return None
    ts = pd.to_datetime(seq["ts"])
    span_days = (ts.iloc[-1] - ts.iloc[0] + bar_interval(ts)).total_seconds() / 86400.0
    changes = int((seq["regime_id"].to_numpy()[1:] != seq["regime_id"].to_numpy()[:-1]).sum())
    return changes / span_days if span_days > 0 else None


def compare(current: pd.DataFrame, candidate: pd.DataFrame) -> dict[str, Any]:
    """How a candidate classification differs from the current one over the same bars."""
    joined = current[["ts", "regime_name"]].merge(candidate[["ts", "regime_name"]], on="ts", suffixes=("_cur", "_new"))
    n = len(joined)
    same = int((joined["regime_name_cur"] == joined["regime_name_new"]).sum()) if n else 0
    cur_segs, new_segs = segments(current), segments(candidate)
    moved = joined[joined["regime_name_cur"] != joined["regime_name_new"]]
    flows = (moved.groupby(["regime_name_cur", "regime_name_new"]).size().sort_values(ascending=False).head(8)
             .reset_index(name="bars") if len(moved) else pd.DataFrame(columns=["from", "to", "bars"]))
    return {
        "bars": n, "agreement_pct": same / n * 100 if n else None, "bars_changed": n - same,
        "transitions_current": max(len(cur_segs) - 1, 0), "transitions_candidate": max(len(new_segs) - 1, 0),
        "per_day_current": transitions_per_day(current), "per_day_candidate": transitions_per_day(candidate),
        "mean_minutes_current": float(cur_segs["minutes"].mean()) if len(cur_segs) else None,
        "mean_minutes_candidate": float(new_segs["minutes"].mean()) if len(new_segs) else None,
        "final_current": current["regime_name"].iloc[-1] if len(current) else None,
        "final_candidate": candidate["regime_name"].iloc[-1] if len(candidate) else None,
        "top_changes": [{"from": a, "to": b, "bars": int(c)} for a, b, c in flows.itertuples(index=False)],
    }
