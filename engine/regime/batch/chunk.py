"""The batch replay's rows: ``collect`` takes what each chunk's prepared buffer yields (called where
RegimeClassifier._classify would step the chunk's rows one by one); ``classify`` then runs the rest
once over all chunks end to end (the carried state - direction and smoothing histories, the stability
state - makes that the same as chunk by chunk) and returns the fields RegimeOutput.to_record writes
(warm-up rows included), as arrays.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from engine.regime import outputs
from engine.regime.batch import inputs as inp
from engine.regime.batch import machine
from engine.regime.batch import modules as mods
from engine.regime.batch.frame import Coded
from engine.regime.modules.base import Frame
from engine.regime.series import INTERVAL_PROBE, NS_PER_MIN

if TYPE_CHECKING:
    from engine.regime.classifier import RegimeClassifier

Columns = dict[str, Any]  # record column -> array; "_present:<key>" -> rows where an optional key exists


@dataclass
class ChunkData:
    """What one chunk's buffer yields for its rows (the rest of the work runs once over all chunks)."""

    ma: mods.ModuleArrays
    noise: dict[str, np.ndarray]
    slots: np.ndarray
    stepped: np.ndarray
    ts: np.ndarray
    close: np.ndarray
    support: np.ndarray
    resistance: np.ndarray
    gap: np.ndarray  # data gap in minutes where RegimeClassifier._gap reports one, else NaN
    session_gap: np.ndarray


def collect(clf: RegimeClassifier, frame: Frame, rows_idx: np.ndarray, first_global: int) -> ChunkData:
    """Module readings, noise, slots, gaps and pivots of a chunk, from the classifier's prepared buffer."""
    n = len(rows_idx)
    stepped = first_global + np.arange(n) > INTERVAL_PROBE
    ma = mods.compute(clf, frame, rows_idx, stepped)
    noise = {k: v[rows_idx] for k, v in clf.noise.compute(frame.logret, clf.buf.volume).items()}
    tb, ts, day = frame.tb, clf.buf.ts, frame.day
    prev = np.maximum(rows_idx - 1, 0)
    new_day = (rows_idx > 0) & (day[rows_idx] != day[prev])
    gap = np.full(n, np.nan)
    if clf.gap_minutes is not None and tb.intraday:
        g = (ts[rows_idx] - ts[prev]) / NS_PER_MIN - tb.bar_minutes
        hit = (rows_idx > 0) & ~new_day & (g > clf.gap_minutes)
        gap[hit] = g[hit]
    piv = clf.straddle.piv.get("classic") if clf.straddle.piv else None
    s1, r1 = (piv[2][rows_idx], piv[1][rows_idx]) if piv is not None else (np.full(n, np.nan),) * 2
    return ChunkData(ma, noise, clf.clock.slot_index(frame.minute[rows_idx], tb.intraday), stepped,
                     ts[rows_idx].copy(), clf.buf.close[rows_idx].astype(np.float64), np.asarray(s1, np.float64),
                     np.asarray(r1, np.float64), gap, new_day & bool(tb.intraday))


def concat(parts: list[ChunkData]) -> ChunkData:
    return ChunkData(mods.concat([p.ma for p in parts]),
                     {k: np.concatenate([p.noise[k] for p in parts]) for k in parts[0].noise},
                     *(np.concatenate([getattr(p, f) for p in parts]) for f in
                       ("slots", "stepped", "ts", "close", "support", "resistance", "gap", "session_gap")))


def classify(clf: RegimeClassifier, data: ChunkData) -> Columns:
    """Every row of the replay: inputs over arrays, the state machine, record columns."""
    ma, noise, slots = data.ma, data.noise, data.slots
    sel = inp.rows(ma.ready)
    x = inp.compute(clf, ma, sel, noise, slots)
    counts = machine.signal_counts(clf, [a[sel] for a in ma.active], [s[sel] for s in ma.score],
                                   [v[sel] for v in ma.vol], [h[sel] for h in ma.has_vol], ma.consensus_ok[sel],
                                   x.edges)
    restricted = np.array([k if s.restricted else -1 for k, s in enumerate(clf.clock.slots)] + [-1],
                          dtype=np.int64)[slots[sel]]  # slot -1 (none) picks the last entry
    dec = machine.run(clf, x, ma.adx[sel], counts, noise["low_volume"][sel], noise["spike"][sel],
                      noise["outsize"][sel], data.gap[sel],
                      data.session_gap[sel], restricted)
    return _columns(clf, data, x, dec, sel)


def _columns(clf: RegimeClassifier, data: ChunkData, x: inp.Inputs, dec: machine.Decided, sel: inp.Rows) -> Columns:
    f, stab = clf.formation, clf.stability
    ma, noise, slots, stepped = data.ma, data.noise, data.slots, data.stepped
    n, n_sel = len(data.ts), len(dec.regime)
    regs = f.regimes

    def fill(default: Any, values: Any, dtype: Any) -> np.ndarray:
        out = np.full(n, default, dtype=dtype)
        out[sel] = values
        return out

    def text(default: str, table: list[str], codes: np.ndarray) -> Coded:
        out = np.zeros(n, np.int64)
        out[sel] = codes + 1
        return Coded(out, [default, *table])

    reg = dec.regime
    conf = dec.conf
    tcode = np.array([f.trend_by_name[r.trend_class].code for r in regs], dtype=np.int64)[reg] if len(reg) else reg
    vcode = np.array([f.vol_by_name[r.vol_class].code for r in regs], dtype=np.int64)[reg] if len(reg) else reg
    pband = _percentile_codes(clf, ma.pct[sel])
    typical = np.array([_typical(stab, r) for r in regs])[reg] if len(reg) else np.zeros(0)
    t_in = dec.time_in
    with np.errstate(invalid="ignore", divide="ignore"):
        reg_pers = np.where(typical > 0, np.minimum(1.0, t_in / np.where(typical > 0, typical, 1.0)), 0.0)
    level = np.where(conf >= stab.high_confidence, 0, np.where(conf >= stab.confidence_threshold, 1, 2))
    blocked = np.where(stepped, 1, 0)  # warm-up rows: why they are not classified
    blocked[sel] = dec.blocked.codes + 2
    names = [m.name for m in clf.modules]
    bits = np.zeros(n_sel, np.int64)  # active modules as bits (a hash of the few distinct sets, not a sort)
    for j, a in enumerate(ma.active):
        bits[a[sel]] += 1 << j
    act_code, uniq = pd.factorize(bits, use_na_sentinel=False)
    cols: Columns = {
        "ts": data.ts,
        "regime_id": fill(-1, np.array([r.regime_id for r in regs], dtype=np.int64)[reg], np.int64),
        "regime_name": text("Warming_Up", [r.name for r in regs], reg),
        "color": text(outputs.WARMUP_COLOR, [r.color for r in regs], reg),
        "confidence": fill(0.0, conf, np.float64),
        "raw_score": fill(0.0, x.d, np.float64),
        "persistence": fill(0.0, dec.persistence, np.float64),
        "stability_level": text("WARMUP", ["HIGH", "MEDIUM", "LOW"], level),
        "time_in_regime_minutes": fill(0.0, t_in, np.float64),
        "checks": text("", dec.checks.table, dec.checks.codes),
        "consensus_score": fill(0.0, ma.consensus[sel], np.float64),
        "transition_probability": fill(0.0, dec.progress, np.float64),
        "noise_level": fill(np.nan, noise["noise"][sel], np.float64),
        "noise_threshold": fill(np.nan, noise["threshold"][sel], np.float64),
        "transition": fill(False, dec.transition, bool),
        "regime_persistence": fill(0.0, reg_pers, np.float64),
        "vol_code": fill(-1, vcode, np.int64),
        "trend_code": fill(-1, tcode, np.int64),
        "atr_vol_class_code": fill(-1, np.where(pband >= 0, pband, vcode), np.int64),
        "trend_component": fill(np.nan, x.t_raw, np.float64),
        "volatility_value": fill(np.nan, x.v_raw, np.float64),
        "trend_class_name": text("", [r.trend_class for r in regs], reg),
        "volatility_class_name": text("", [r.vol_class for r in regs], reg),
        "adx": fill(np.nan, ma.adx[sel], np.float64),
        "transition_rule": text("", dec.rule.table, dec.rule.codes),
        "candidate_regime_id": fill(-1, np.array([r.regime_id for r in regs], dtype=np.int64)[dec.cand], np.int64),
        "blocked_by": Coded(blocked, ["collecting bars to measure the bar interval",
                                      f"warming up: ATR/ADX need {2 * clf.atr.period} bars", *dec.blocked.table]),
        "low_confidence": fill(True, (conf < stab.confidence_threshold) & bool(stab.flag_low_confidence), bool),
        "time_slot": text("", [s.name for s in clf.clock.slots] + [""], np.where(slots[sel] >= 0, slots[sel],
                                                                                 len(clf.clock.slots))),
        "sensitivity": fill(1.0, x.sens, np.float64),
        "warmup": fill(True, False, bool),
        "underlying_spot": data.close,
        "active_modules": text("", [",".join(nm for j, nm in enumerate(names) if (c >> j) & 1) for c in np.asarray(uniq).tolist()],
                               np.asarray(act_code, np.int64).reshape(-1)),
    }
    for m, a, s, w in zip(clf.modules, ma.active, ma.score, x.weights, strict=True):
        cols[f"mod:{m.column}"] = fill(np.nan, np.where(a[sel], s[sel], np.nan), np.float64)
        cols[f"w:{m.column}"] = fill(0.0, w, np.float64)
    for key, vals in (("support1_classic", data.support), ("resistance1_classic", data.resistance)):
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
    rp = stab.regime_params.get(regime.regime_id)
    return rp.typical_duration if rp else 0.0
