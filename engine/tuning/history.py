"""The scorecard's input, one row per bar: from a regime replay (tuning, validation) or from the stored
snapshots (live), with the simulated market's true regime path when the store has it."""
from __future__ import annotations

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.params.paramset import ParamSet
from engine.regime.formation import Formation
from engine.regime.quality import trend_labels, vol_labels
from engine.store.models import BarRow, RegimeSnapshot, TrueRegimeRow

COLUMNS = ["timestamp", "regime_name", "trend", "vol", "transition", "confidence", "close"]


def _with_truth(h: pd.DataFrame, truth: pd.DataFrame | None) -> pd.DataFrame:
    if truth is None or truth.empty:
        return h
    t = truth.rename(columns={"ts": "timestamp", "trend": "true_trend", "volatility": "true_vol"})
    return h.merge(t[["timestamp", "true_trend", "true_vol"]], on="timestamp", how="inner")


def from_replay(records: pd.DataFrame, bars: pd.DataFrame, ps: ParamSet,
                truth: pd.DataFrame | None = None) -> pd.DataFrame:
    """Replay output (engine.regime.replay) + its bars (timestamp, close) -> scorecard rows (warm-up dropped)."""
    f = Formation(ps)
    r = records[~records["warmup"].astype(bool)] if "warmup" in records else records
    h = pd.DataFrame({"timestamp": r["timestamp"], "regime_name": r["regime_name"],
                      "trend": r["trend_class_name"].map(trend_labels(f)),
                      "vol": r["volatility_class_name"].map(vol_labels(f)),
                      "transition": r["regime_transition"].astype(bool), "confidence": r["confidence_score"]})
    h = h.merge(bars[["timestamp", "close"]], on="timestamp", how="left")
    return _with_truth(h.reset_index(drop=True), truth)


def from_store(session: Session, symbol: str, ps: ParamSet, limit: int = 2000,
               version_id: int | None = None) -> pd.DataFrame:
    """The newest `limit` stored snapshots of `symbol` (made by `version_id` when given) as scorecard rows,
    with their bars' closes and, when the market is simulated, the truth. Bars and truth are read over the
    snapshots' own time range: an earlier version's snapshots are older than the newest bars, and scored
    without prices they would lack the price metrics the newer version has (auto-rollback compared them)."""
    q = select(RegimeSnapshot).where(RegimeSnapshot.symbol == symbol)
    if version_id is not None:
        q = q.where(RegimeSnapshot.param_version_id == version_id)
    rows = list(session.scalars(q.order_by(RegimeSnapshot.id.desc()).limit(limit)))[::-1]
    if not rows:
        return pd.DataFrame(columns=COLUMNS)
    f = Formation(ps)
    tl, vl = trend_labels(f), vol_labels(f)
    h = pd.DataFrame({"timestamp": [r.ts for r in rows], "regime_name": [r.regime_name for r in rows],
                      "trend": [tl.get(r.trend_class) for r in rows], "vol": [vl.get(r.volatility_class) for r in rows],
                      "transition": [bool(r.is_transition) for r in rows], "confidence": [r.confidence for r in rows]})
    first, last = rows[0].ts, rows[-1].ts
    bars = pd.DataFrame(session.execute(select(BarRow.ts, BarRow.close).where(
        BarRow.symbol == symbol, BarRow.ts >= first, BarRow.ts <= last)).all(), columns=["timestamp", "close"])
    h["timestamp"] = pd.to_datetime(h["timestamp"], utc=True)
    bars["timestamp"] = pd.to_datetime(bars["timestamp"], utc=True)
    h = h.merge(bars, on="timestamp", how="left")
    truth = pd.DataFrame([(r.ts, r.trend, r.volatility) for r in session.scalars(
        select(TrueRegimeRow).where(TrueRegimeRow.ts >= first, TrueRegimeRow.ts <= last))],
        columns=["timestamp", "trend", "volatility"])
    if not truth.empty:
        truth["timestamp"] = pd.to_datetime(truth["timestamp"], utc=True)
    return _with_truth(h, truth)
