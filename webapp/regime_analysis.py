"""Plain pandas statistics of a regime sequence: segments, the observed transition matrix, durations
against the workbook's RegimeParameters, and the comparison of two classifications of one history.
Durations are market minutes (the engine's time in regime, or bars x bar minutes), never wall-clock time
between timestamps: regular-session data has overnight gaps the engine and the workbook do not count.

Why a module of its own: the Regime page shows these for the stored classification and for the
what-if replay alike; they are pure functions of DataFrames, so unit tests call them directly.
A sequence is a DataFrame with columns ts (increasing), regime_id and regime_name, one row per bar.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from engine.analytics.periods import session_minutes

SEGMENT_COLUMNS = ["start", "end", "regime_id", "regime_name", "bars", "minutes", "ongoing"]


def bar_interval(ts: pd.Series) -> pd.Timedelta:
    """The typical spacing of the bars (median), one minute when it cannot be measured."""
    if len(ts) < 2:
        return pd.Timedelta(minutes=1)
    return pd.Series(pd.to_datetime(ts)).diff().median()


def _tir_minutes(seq: pd.DataFrame) -> np.ndarray | None:
    """The engine's time in regime per row, in market minutes: stored snapshots carry time_in_regime_s,
    replay records time_in_regime_minutes; None when the sequence has neither."""
    if "time_in_regime_s" in seq:
        return pd.to_numeric(seq["time_in_regime_s"], errors="coerce").to_numpy(dtype=float) / 60.0
    if "time_in_regime_minutes" in seq:
        return pd.to_numeric(seq["time_in_regime_minutes"], errors="coerce").to_numpy(dtype=float)
    return None


def market_bar_minutes(seq: pd.DataFrame) -> float:
    """Market minutes one bar stands for: the engine's own step of time in regime when stored (as
    engine.regime.stats.spells reads it), else the median bar spacing (overnight gaps do not move a median)."""
    tir = _tir_minutes(seq)
    if tir is not None and len(tir) > 1:
        steps = np.diff(tir)
        steps = steps[np.isfinite(steps) & (steps > 0)]
        if len(steps):
            return float(np.median(steps))
    minutes = bar_interval(seq["ts"]).total_seconds() / 60.0 if len(seq) else 1.0
    return minutes if minutes > 0 else 1.0


def _run_minutes(seq: pd.DataFrame, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Market minutes of each run [start, end): the engine's time in regime from the run's first to its last bar
    plus one bar, or bars x bar minutes where that is missing or restarts inside the run (an engine restart).
    Never the wall clock between timestamps: a run held over the close is not 17 hours long."""
    bar = market_bar_minutes(seq)
    by_bars = (ends - starts) * bar
    tir = _tir_minutes(seq)
    if tir is None:
        return by_bars.astype(float)
    restarts = np.r_[0, np.cumsum(~(np.diff(tir) >= 0))]  # a NaN counts as a restart too
    span = tir[ends - 1] - tir[starts] + bar
    ok = np.isfinite(span) & (restarts[ends - 1] == restarts[starts])
    return np.where(ok, span, by_bars).astype(float)


def segments(seq: pd.DataFrame) -> pd.DataFrame:
    """Runs of one regime: start, end (start of the next run; last one ends a bar after its last row),
    number of bars, market minutes (what the workbook's durations and the engine count), and whether the
    run is still ongoing (the last one)."""
    if seq.empty:
        return pd.DataFrame(columns=SEGMENT_COLUMNS)
    seq = seq.reset_index(drop=True)
    ts = pd.to_datetime(seq["ts"])
    ids = seq["regime_id"].to_numpy()
    names = seq["regime_name"].to_numpy()
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    ends = np.r_[starts[1:], len(ids)]
    end_ts = [ts.iloc[e] if e < len(ts) else ts.iloc[-1] + bar_interval(ts) for e in ends]
    out = pd.DataFrame({
        "start": ts.iloc[starts].to_numpy(), "end": end_ts, "regime_id": ids[starts].astype(int),
        "regime_name": names[starts], "bars": ends - starts,
    })
    out["minutes"] = _run_minutes(seq, starts, ends)
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


def transitions_per_day(seq: pd.DataFrame, session: float | None = None) -> float | None:
    """Regime changes per market session (the engine's and the workbook's "per day"): changes over the market
    minutes the bars cover (bars x bar minutes, overnight gaps excluded) divided by `session`, the session's
    minutes (MasterConfiguration's open-close when the caller knows it; else read from the data as
    engine.analytics.periods does: the fullest session between breaks, 1,440 for a round-the-clock market)."""
    if len(seq) < 2:
        return None
    if session is None:
        session = session_minutes(pd.DatetimeIndex(pd.to_datetime(seq["ts"])))
    bar = market_bar_minutes(seq)
    sessions = len(seq) * bar / max(session, bar)
    changes = int((seq["regime_id"].to_numpy()[1:] != seq["regime_id"].to_numpy()[:-1]).sum())
    return changes / sessions if sessions > 0 else None


def compare(current: pd.DataFrame, candidate: pd.DataFrame, session: float | None = None) -> dict[str, Any]:
    """How a candidate classification differs from the current one over the same bars (`session`: the
    market session's minutes for the per-session rates, see transitions_per_day)."""
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
        "per_day_current": transitions_per_day(current, session),
        "per_day_candidate": transitions_per_day(candidate, session),
        "mean_minutes_current": float(cur_segs["minutes"].mean()) if len(cur_segs) else None,
        "mean_minutes_candidate": float(new_segs["minutes"].mean()) if len(new_segs) else None,
        "final_current": current["regime_name"].iloc[-1] if len(current) else None,
        "final_candidate": candidate["regime_name"].iloc[-1] if len(candidate) else None,
        "top_changes": [{"from": a, "to": b, "bars": int(c)} for a, b, c in flows.itertuples(index=False)],
    }
