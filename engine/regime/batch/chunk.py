"""One chunk of the batch replay: the classifier's prepared modules in, record columns out.

Called where RegimeClassifier._classify would step the chunk's rows one by one; the columns are the
fields RegimeOutput.to_record writes (warm-up rows included), as arrays.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from engine.regime import outputs
from engine.regime.batch import inputs as inp
from engine.regime.batch import machine
from engine.regime.batch import modules as mods
from engine.regime.modules.base import Frame
from engine.regime.series import INTERVAL_PROBE, NS_PER_MIN

if TYPE_CHECKING:
    from engine.regime.classifier import RegimeClassifier

Columns = dict[str, Any]  # record column -> array; "_present:<key>" -> rows where an optional key exists


def _gaps(clf: RegimeClassifier, frame: Frame, rows: np.ndarray) -> tuple[list[str], list[bool]]:
    """RegimeClassifier._gap and the session_gap flag for buffer rows ``rows``."""
    tb, ts, day = frame.tb, clf.buf.ts, frame.day
    prev = np.maximum(rows - 1, 0)
    new_day = (rows > 0) & (day[rows] != day[prev])
    session_gap = (new_day & bool(tb.intraday)).tolist()
    gaps = [""] * len(rows)
    if clf.gap_minutes is not None and tb.intraday:
        gap = (ts[rows] - ts[prev]) / NS_PER_MIN - tb.bar_minutes
        for k in np.flatnonzero((rows > 0) & ~new_day & (gap > clf.gap_minutes)).tolist():
            gaps[k] = f"data gap of {gap[k]:.0f} min (MissingDataCheck): regime held"
    return gaps, session_gap


def classify(clf: RegimeClassifier, frame: Frame, rows_idx: np.ndarray, first_global: int) -> Columns:
    n = len(rows_idx)
    stepped = first_global + np.arange(n) > INTERVAL_PROBE
    ma = mods.compute(clf, frame, rows_idx, stepped)
    noise = {k: v[rows_idx] for k, v in clf.noise.compute(frame.logret, clf.buf.volume).items()}
    slots = clf.clock.slot_index(frame.minute[rows_idx], frame.tb.intraday)
    sel = np.flatnonzero(ma.ready)
    x = inp.compute(clf, ma, sel, noise, slots)
    rows = rows_idx[sel]
    counts = machine.signal_counts(clf, [a[sel] for a in ma.active], [s[sel] for s in ma.score],
                                   [v[sel] for v in ma.vol], [h[sel] for h in ma.has_vol], ma.consensus_ok[sel])
    restricted = [s if s >= 0 and clf.clock.slots[s].restricted else -1 for s in slots[sel].tolist()]
    gaps, session_gap = _gaps(clf, frame, rows)
    dec = machine.run(clf, x, ma.adx[sel], counts, noise["low_volume"][sel].tolist(), noise["spike"][sel].tolist(),
                      gaps, session_gap, restricted)
    return _columns(clf, ma, x, dec, rows_idx, sel, noise, slots, stepped)


def _columns(clf: RegimeClassifier, ma: mods.ModuleArrays, x: inp.Inputs, dec: machine.Decided,
             rows_idx: np.ndarray, sel: np.ndarray, noise: dict[str, np.ndarray], slots: np.ndarray,
             stepped: np.ndarray) -> Columns:
    f, stab = clf.formation, clf.stability
    n = len(rows_idx)
    regs = f.regimes

    def fill(default: Any, values: Any, dtype: Any = None) -> np.ndarray:
        out = np.full(n, default, dtype=dtype if dtype is not None else np.asarray(values).dtype
                      if not isinstance(default, str) else object)
        out[sel] = values
        return out

    def by_regime(idx: list[int], attr: Any) -> np.ndarray:
        table = np.array([attr(r) for r in regs] + [None], dtype=object)
        return table[np.asarray(idx, dtype=np.int64)] if idx else np.empty(0, object)

    reg = np.asarray(dec.regime, dtype=np.int64)
    conf = np.asarray(dec.conf, dtype=np.float64)
    tcode = np.array([f.trend_by_name[r.trend_class].code for r in regs], dtype=np.int64)[reg] if len(reg) else reg
    vcode = np.array([f.vol_by_name[r.vol_class].code for r in regs], dtype=np.int64)[reg] if len(reg) else reg
    pband = _percentile_codes(clf, ma.pct[sel])
    typical = np.array([_typical(stab, r) for r in regs])[reg] if len(reg) else np.zeros(0)
    t_in = np.asarray(dec.time_in, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        reg_pers = np.where(typical > 0, np.minimum(1.0, t_in / np.where(typical > 0, typical, 1.0)), 0.0)
    why = np.where(stepped, f"warming up: ATR/ADX need {2 * clf.atr.period} bars",
                   "collecting bars to measure the bar interval").astype(object)
    cols: Columns = {
        "ts": clf.buf.ts[rows_idx].copy(),
        "regime_id": fill(-1, by_regime(dec.regime, lambda r: r.regime_id).astype(np.int64), np.int64),
        "regime_name": fill("Warming_Up", by_regime(dec.regime, lambda r: r.name)),
        "color": fill(outputs.WARMUP_COLOR, by_regime(dec.regime, lambda r: r.color)),
        "confidence": fill(0.0, conf, np.float64),
        "raw_score": fill(0.0, x.d, np.float64),
        "persistence": fill(0.0, np.asarray(dec.persistence, dtype=np.float64), np.float64),
        "stability_level": fill("WARMUP", np.array([stab.level(c) for c in dec.conf], dtype=object)),
        "time_in_regime_minutes": fill(0.0, t_in, np.float64),
        "checks": fill("", np.array(dec.checks, dtype=object)),
        "consensus_score": fill(0.0, ma.consensus[sel], np.float64),
        "transition_probability": fill(0.0, np.asarray(dec.progress, dtype=np.float64), np.float64),
        "noise_level": fill(np.nan, noise["noise"][sel], np.float64),
        "transition": fill(False, np.asarray(dec.transition, dtype=bool), bool),
        "regime_persistence": fill(0.0, reg_pers, np.float64),
        "vol_code": fill(-1, vcode, np.int64),
        "trend_code": fill(-1, tcode, np.int64),
        "atr_vol_class_code": fill(-1, np.where(pband >= 0, pband, vcode), np.int64),
        "trend_component": fill(np.nan, x.t, np.float64),
        "volatility_value": fill(np.nan, x.v, np.float64),
        "trend_class_name": fill("", by_regime(dec.regime, lambda r: r.trend_class)),
        "volatility_class_name": fill("", by_regime(dec.regime, lambda r: r.vol_class)),
        "adx": fill(np.nan, ma.adx[sel], np.float64),
        "transition_rule": fill("", np.array(dec.rule, dtype=object)),
        "candidate_regime_id": fill(-1, by_regime(dec.cand, lambda r: r.regime_id).astype(np.int64), np.int64),
        "blocked_by": why,
        "low_confidence": fill(True, (conf < stab.confidence_threshold) & bool(stab.flag_low_confidence), bool),
        "time_slot": fill("", np.array([clf.clock.slots[s].name if s >= 0 else "" for s in slots[sel].tolist()],
                                       dtype=object)),
        "sensitivity": fill(1.0, x.sens, np.float64),
        "warmup": fill(True, np.zeros(len(sel), bool), bool),
        "underlying_spot": clf.buf.close[rows_idx].astype(np.float64),
    }
    cols["blocked_by"][sel] = np.array(dec.blocked, dtype=object)
    names = np.array([m.name for m in clf.modules], dtype=object)
    act = np.vstack([a[sel] for a in ma.active]) if clf.modules else np.zeros((0, len(sel)), bool)
    codes = (act.astype(np.int64) << np.arange(len(names))[:, None]).sum(axis=0) if len(sel) else np.zeros(0, int)
    labels = {c: ",".join(names[[(c >> j) & 1 == 1 for j in range(len(names))]]) for c in set(codes.tolist())}
    cols["active_modules"] = fill("", np.array([labels[c] for c in codes.tolist()], dtype=object))
    for m, a, s, w in zip(clf.modules, ma.active, ma.score, x.weights, strict=True):
        cols[f"mod:{m.column}"] = fill(np.nan, np.where(a[sel], s[sel], np.nan), np.float64)
        cols[f"w:{m.column}"] = fill(0.0, w, np.float64)
    piv = clf.straddle.piv.get("classic") if clf.straddle.piv else None
    for key, j in (("support1_classic", 2), ("resistance1_classic", 1)):
        vals = piv[j][rows_idx].astype(np.float64) if piv is not None else np.full(n, np.nan)
        cols[key] = np.where(ma.ready, vals, np.nan)
        cols[f"_present:{key}"] = ma.ready.copy()
    for key, (vals, present) in ma.extras.items():
        cols[key] = np.where(ma.ready & present, vals, np.nan)
        cols[f"_present:{key}"] = ma.ready & present
    return cols


def _percentile_codes(clf: RegimeClassifier, pct: np.ndarray) -> np.ndarray:
    """Formation.vol_class_by_percentile as codes (-1 when no range holds)."""
    out = np.full(len(pct), -1, np.int64)
    fin = np.isfinite(pct)
    for rng, band in clf.formation.vol_pct:
        if rng is not None:
            out[fin & (out < 0) & (rng[0] <= pct) & (pct <= rng[1])] = band.code
    return out


def _typical(stab: Any, regime: Any) -> float:
    rp = stab.params.get(regime.regime_id)
    return rp.typical_duration if rp else 0.0
