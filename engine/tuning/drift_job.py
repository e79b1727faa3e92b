"""The drift job: the engine's features from stored snapshots and bars, ADWIN per feature, then act.

Features: the index's log returns and the snapshots' confidence, raw score, volatility value, trend value,
each module's score, and the ensemble's agreement (1 − its disagreement) when a model ran. On a drift
not yet alarmed (once per change, see check_drift): a health warning (the "drift" check, engine/health/checks.py reads
DRIFT_KEY), a notification, and with AdaptiveLearning retraining_trigger DRIFT_BASED a refit request
(REFIT_KEY): the ensemble's refit job (engine/regime/ensemble/job.py) refits at its next look when a
request is newer than its newest model, without waiting for update_frequency new bars.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select

from engine import audit, notify
from engine.context import EngineContext
from engine.health.grades import DEGRADED, HEALTHY, CheckResult
from engine.params.versions import active_params
from engine.store import queries
from engine.store.keyvalue import REFIT_REQUEST_KEY, get_value, put_value
from engine.store.models import RegimeSnapshot
from engine.tuning.drift import DriftConfig, DriftFinding, detect_all

log = logging.getLogger(__name__)
ACTOR = "system:drift"
DRIFT_KEY = "tuning.drift"  # {"ts", "changed_at", "findings", "drifting"}: the newest alarm, features in drift
REFIT_KEY = REFIT_REQUEST_KEY  # {"ts", "reason"}: a refit the drift asked for (the refit job honours it)
WARN_HOURS = 24.0  # the health check warns for this long after a drift
CHECK_SECONDS = 60.0


def snapshot_features(rows: list[RegimeSnapshot]) -> dict[str, np.ndarray]:
    """One array per feature, oldest first (rows must be oldest first)."""
    out: dict[str, list[float]] = {"confidence": [], "raw_score": [], "volatility_value": [], "trend_value": []}
    modules: dict[str, list[float]] = {}
    agreement: list[float] = []
    for i, r in enumerate(rows):
        for k in ("confidence", "raw_score", "volatility_value", "trend_value"):
            out[k].append(float(getattr(r, k)))
        blob = r.modules or {}
        for m in blob.get("modules") or []:
            modules.setdefault(f"module:{m.get('name')}", [np.nan] * i).append(
                float(m["score"]) if m.get("score") is not None else np.nan)
        for v in modules.values():
            v.extend([np.nan] * (i + 1 - len(v)))
        ens = blob.get("ensemble") or {}
        if ens.get("disagreement") is not None:
            agreement.append(1.0 - float(ens["disagreement"]))
    feats = {k: np.asarray(v) for k, v in {**out, **modules}.items()}
    if agreement:
        feats["ensemble_agreement"] = np.asarray(agreement)
    return feats


Times = dict[str, list[datetime]]


def gather(ctx: EngineContext, window: int) -> tuple[dict[str, np.ndarray], Times]:
    """The features over the newest `window` snapshots and bars of the index, and each value's data time."""
    if ctx.source is None:
        return {}, {}
    symbol = ctx.source.index_symbol()
    with ctx.store.read() as s:
        rows = list(s.scalars(select(RegimeSnapshot).where(RegimeSnapshot.symbol == symbol)
                              .order_by(RegimeSnapshot.id.desc()).limit(window)))[::-1]
        bars = queries.bars(s, symbol, window + 1)
    feats = snapshot_features(rows)
    times: Times = {k: [r.ts for r in rows] for k in feats}
    if "ensemble_agreement" in feats:
        times["ensemble_agreement"] = [r.ts for r in rows if ((r.modules or {}).get("ensemble") or {})
                                       .get("disagreement") is not None]
    if len(bars) > 1:
        feats["returns"] = np.diff(np.log(bars["close"].to_numpy(dtype=float)))
        times["returns"] = [pd.Timestamp(t).to_pydatetime() for t in bars["timestamp"].iloc[1:]]
    return feats, times


def check_drift(ctx: EngineContext) -> list[DriftFinding]:
    """Run the detectors; on a new drift warn, notify and (DRIFT_BASED) request a refit. Returns the findings.

    Once per change: a feature alarms when it drifts and is not already in the stored "drifting" set; it
    leaves that set (re-arms) at the first check that finds it not drifting, which for a lasting change is
    when the change leaves the window. Why not the change point: ADWIN re-estimates it on every replay and
    it moves later as the window slides over one and the same change, so "a newer change point" re-alarmed
    every few checks."""
    with ctx.store.read() as s:
        cfg = DriftConfig.of(active_params(s))
    if not cfg.enabled:
        return []
    feats, times = gather(ctx, cfg.window)
    if not feats:
        return []  # nothing looked at: neither a drift nor a quiet check
    findings = detect_all(feats, cfg.threshold)
    now = ctx.clock.now()
    with ctx.store.write() as s:
        last = get_value(s, DRIFT_KEY) or {}
        known = _drifting(last)
        new = [f for f in findings if f.feature not in known]
        still = sorted(known & {f.feature for f in findings} | {f.feature for f in new})
        if not new:
            if still != sorted(known):  # some features stopped drifting: re-armed, the last alarm kept
                put_value(s, DRIFT_KEY, {**last, "drifting": still}, now)
            return findings  # these changes are already known: warn once per change, not every run
        changed_at = max(times[f.feature][f.index] for f in new)
        texts = [f.text() for f in new]
        put_value(s, DRIFT_KEY, {"ts": now.isoformat(), "changed_at": changed_at.isoformat(), "findings": texts,
                                 "drifting": still}, now)
        audit.record(s, now, ACTOR, "tuning.drift", "regime_features", {"findings": texts[:10]})
        if cfg.trigger == "DRIFT_BASED":
            put_value(s, REFIT_KEY, {"ts": now.isoformat(), "reason": texts[0]}, now)
        notify.after_commit(s, "RegimeDesk: market drift detected",
                            f"{len(new)} feature(s) drifted: " + "; ".join(texts[:3]) +
                            (" A refit of the regime models was requested." if cfg.trigger == "DRIFT_BASED" else ""))
    log.warning("drift: %s", "; ".join(texts))
    return findings


def _drifting(last: dict[str, Any]) -> set[str]:
    """The features alarmed and not yet seen quiet; a record from before "drifting" was kept names them in its
    findings ("<feature>: mean ...")."""
    if "drifting" in last:
        return set(last["drifting"])
    return {str(t).rsplit(": mean ", 1)[0] for t in last.get("findings", [])}


def drift_status(ctx: EngineContext) -> tuple[str, str]:
    """("warn" | "ok", detail) for the health check: a drift in the last WARN_HOURS warns."""
    with ctx.store.read() as s:
        last = get_value(s, DRIFT_KEY)
    if not last:
        return "ok", "no drift detected"
    age = ctx.clock.now() - datetime.fromisoformat(last["ts"])
    what = "; ".join(last.get("findings", [])[:2])
    if age <= timedelta(hours=WARN_HOURS):
        return "warn", f"drift {age.total_seconds() / 3600:.1f} h ago: {what}"
    return "ok", f"last drift {age.total_seconds() / 3600:.0f} h ago"


def drift_check(ctx: EngineContext) -> CheckResult:
    """The health page's "market drift" check: degraded for WARN_HOURS after a detected drift."""
    state, detail = drift_status(ctx)
    return CheckResult("market drift", DEGRADED if state == "warn" else HEALTHY, detail)
