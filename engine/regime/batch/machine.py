"""The regime state machine over a chunk: inputs for the compiled loop (batch/kernel.py), and its
results back as per-row lists.

Computed here over arrays, once per chunk: hysteresis alternatives for every trend and volatility
class, each regime's evidence, the confirmation bars each row needs (StabilityPolicy.required_bars
per distinct sensitivity), and the signal counts for each case count_signals distinguishes. The
classifier's StabilityState is the loop's state: read in before the chunk, written back after it.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from engine.regime.adaptive import map_vol
from engine.regime.batch import tables
from engine.regime.batch import vectors as vx
from engine.regime.batch.frame import Coded
from engine.regime.batch.inputs import Inputs
from engine.regime.candidate import NEUTRAL_TARGET_MAX_SCORE
from engine.regime.formation import RegimeRow
from engine.regime.stability import Proposal, StabilityState

if TYPE_CHECKING:
    from engine.regime.classifier import RegimeClassifier


@dataclass
class Decided:
    """Per classified row, as arrays: the outcome the records need (texts as codes into tables)."""

    regime: np.ndarray  # regime index (into formation.regimes)
    cand: np.ndarray
    conf: np.ndarray
    transition: np.ndarray
    rule: Coded
    blocked: Coded
    checks: Coded
    progress: np.ndarray
    time_in: np.ndarray
    persistence: np.ndarray


def signal_counts(clf: RegimeClassifier, act: list[np.ndarray], score: list[np.ndarray], vol: list[np.ndarray],
                  has_vol: list[np.ndarray], consensus_ok: np.ndarray,
                  edges: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """candidate.count_signals' module part for every case it distinguishes (by direction / vol class);
    ``edges``: adaptive volatility boundaries per row (module readings classified on the class scale)."""
    f, tp, thr = clf.formation, clf.transitions, clf.stability.signal_strength
    skip = {n for n, keep in ((clf.greek.name, tp.validate_greeks), (clf.corr.name, tp.validate_correlation))
            if not keep}
    n = len(consensus_ok)
    use = [a & (consensus_ok if m is clf.mtf else True) for m, a in zip(clf.modules, act, strict=True)
           if m.name not in skip]
    idx = [k for k, m in enumerate(clf.modules) if m.name not in skip]
    live = [(u, k) for u, k in zip(use, idx, strict=True) if u.any()]  # a module never counted adds nothing
    out: dict[str, np.ndarray] = {"n": _count(n, (u for u, _ in live))}
    for key, test in (("up", lambda s: s >= thr), ("down", lambda s: -s >= thr), ("from_up", lambda s: s <= thr),
                      ("from_down", lambda s: -s <= thr), ("flat", lambda s: np.abs(s) < NEUTRAL_TARGET_MAX_SCORE)):
        out[key] = _count(n, (u & test(score[k]) for u, k in live))
    codes = {k: vx.vol_codes(f, vol[k] if edges is None else map_vol(vol[k], edges, clf.adaptive.abs_edges))
             for u, k in live if has_vol[k].any()}  # no reading: counted nowhere
    for vb in f.vol:
        out[f"vol{vb.code}"] = _count(n, (u & has_vol[k] & (codes[k] == vb.code) for u, k in live if k in codes))
    return out


def _count(n: int, masks: Iterable[np.ndarray]) -> np.ndarray:
    """Rows' number of true masks (in place: one int64 array, no temporaries per mask)."""
    out = np.zeros(n, np.int64)
    for m in masks:
        out += m
    return out


def run(clf: RegimeClassifier, x: Inputs, adx: np.ndarray, counts: dict[str, np.ndarray], low_vol: np.ndarray,
        spike: np.ndarray, outsize: np.ndarray, gap: np.ndarray, session_gap: np.ndarray, restricted: np.ndarray) -> Decided:
    """The chunk's rows through the compiled state machine, with the classifier's StabilityState as its state.

    ``gap``: data gap in minutes where the regime is held (NaN elsewhere)."""
    # local import: heavy (numba compiles on first use), not with every import of engine.regime
    from engine.regime.batch import kernel
    f, stab, tp, st, tbase = clf.formation, clf.stability, clf.transitions, clf.state, clf.tb
    assert tbase is not None  # chunks are classified once the bar interval is known
    tb = _tables(clf)
    regs = tb.regs
    n = len(x.t)
    pos = {r.regime_id: k for k, r in enumerate(regs)}
    # local import: heavy (numba), as kernel above
    from engine.regime.batch import trend
    talt = trend.alternatives(x.t, adx, x.h, x.band, trend.class_edges(f), *x.trend_tables, f.neutral.code)
    valt = np.array([vx.vol_alt(f, v.code, x.v, x.h, x.vband) for v in f.vol]).reshape(len(f.vol), n)  # n may be 0
    agr, mtr, mvr, rsc, rkn, reg_rule = vx.evidence_parts(f, regs, x.t, x.v, x.d, x.env, x.cache)
    need = _need(clf, x.sens, session_gap)
    cnt = np.asarray(np.vstack([counts[k] for k in ("n", "up", "down", "from_up", "from_down", "flat")]
                               + [counts[f"vol{v.code}"] for v in f.vol]), np.int64).reshape(6 + len(f.vol), n)  # no copy
    par = np.array([tbase.bar_minutes, clf.clock.session_minutes, stab.cooldown, stab.max_per_hour, stab.max_per_day,
                    tp.emergency_threshold, tp.max_emergency, stab.persistence_ratio, stab.min_per_day, stab.margin,
                    stab.signal_strength, stab.accuracy_w, stab.stability_w, stab.target_per_session], dtype=np.float64)
    flags = np.array([stab.enforce_min_duration, stab.circuit_breaker, tp.circuit_breaker, tp.method == "SIMPLE",
                      tp.gap_handling == "STRICT", int(tp.validate_volume)], dtype=np.int64)
    si, sf, recent, trans, emerg = _state_in(st, pos)
    out_i, out_f = np.zeros((9, n), np.int64), np.zeros((6, n))
    kernel.run(x.band, x.vband, x.h, np.isfinite(x.v), np.asarray(restricted, np.int64), x.penalty,
               np.isfinite(gap), np.asarray(session_gap, bool), np.asarray(spike, bool),
               np.asarray(outsize, bool),
               need, x.persistent.astype(np.int64), np.asarray(low_vol, bool), x.d, cnt, agr, mtr, mvr, rsc, rkn,
               reg_rule, talt, valt, tb.pair,
               tb.reg_t, tb.reg_v, tb.tdir, tb.target, tb.note, tb.norule, tb.n_rules, tb.rule_thr, tb.rule_req,
               tb.rule_id, tb.min_dur, tb.max_dur, tb.has_exit, tb.exit_, tb.demote, par, flags, si, sf, recent,
               trans, emerg, out_i, out_f)
    _state_out(st, regs, si, sf, recent, trans, emerg)
    return _decided(clf, tb, out_i, out_f, gap)


def _need(clf: RegimeClassifier, sens: np.ndarray, session_gap: np.ndarray) -> np.ndarray:
    """StabilityPolicy.required_bars per row, called once per distinct (sensitivity, session gap)."""
    stab, tbase, regs = clf.stability, clf.tb, clf.formation.regimes
    assert tbase is not None
    inv, uniq = pd.factorize(sens, use_na_sentinel=False)  # a hash, not a sort: sensitivities take few values
    table = np.array([[stab.required_bars(Proposal(regs[0], 0.0, 0.0, 0, 0, 0.0, False, False, tbase.bar_minutes,
                                                   float(s), 0.0, session_gap=g)) for g in (False, True)]
                      for s in np.asarray(uniq).tolist()], dtype=np.int64).reshape(-1, 2)
    return table[inv.reshape(-1), np.asarray(session_gap, bool).astype(np.int64)] if len(sens) else \
        np.zeros(0, np.int64)


_TABLES: dict[str, tables.Tables] = {}  # by parameter content hash: tables depend on the parameters only


def _tables(clf: RegimeClassifier) -> tables.Tables:
    key = str(getattr(clf.params, "content_hash", "") or "")
    got = _TABLES.get(key) if key else None
    if got is None:
        got = tables.build(clf)
        if key:
            if len(_TABLES) >= 8:
                _TABLES.pop(next(iter(_TABLES)))
            _TABLES[key] = got
    return got


def _ring(items: list, size: int, dtype: type) -> tuple[np.ndarray, int, int]:
    buf: np.ndarray = np.zeros(size, dtype)
    buf[:len(items)] = items
    return buf, len(items), len(items) % size


def _state_in(st: StabilityState, pos: dict[int, int]) -> tuple[np.ndarray, ...]:
    recent, n_r, h_r = _ring([pos[i] for i in st.recent], st.recent.maxlen or 1, np.int64)
    trans, n_t, h_t = _ring(list(st.transitions), st.transitions.maxlen or 64, np.float64)
    emerg, n_e, h_e = _ring(list(st.emergencies), st.emergencies.maxlen or 16, np.float64)
    si = np.array([pos[st.regime.regime_id] if st.regime is not None else -1,
                   pos[st.pending.regime_id] if st.pending is not None else -1, st.pending_count,
                   n_r, h_r, n_t, h_t, n_e, h_e], dtype=np.int64)
    sf = np.array([st.clock, st.entered, st.last_transition], dtype=np.float64)
    return si, sf, recent, trans, emerg


def _unring(buf: np.ndarray, n: int, head: int) -> list:
    items = buf.tolist()
    return items[:n] if n < len(buf) else items[head:] + items[:head]


def _state_out(st: StabilityState, regs: tuple[RegimeRow, ...], si: np.ndarray, sf: np.ndarray, recent: np.ndarray,
               trans: np.ndarray, emerg: np.ndarray) -> None:
    st.regime = regs[si[0]] if si[0] >= 0 else None
    st.pending = regs[si[1]] if si[1] >= 0 else None
    st.pending_count = int(si[2])
    st.clock, st.entered, st.last_transition = float(sf[0]), float(sf[1]), float(sf[2])
    for dq, items in ((st.recent, [regs[i].regime_id for i in _unring(recent, int(si[3]), int(si[4]))]),
                      (st.transitions, _unring(trans, int(si[5]), int(si[6]))),
                      (st.emergencies, _unring(emerg, int(si[7]), int(si[8])))):
        dq.clear()
        dq.extend(items)


def _decided(clf: RegimeClassifier, tb: tables.Tables, out_i: np.ndarray, out_f: np.ndarray,
             gap: np.ndarray) -> Decided:
    """The kernel's outputs as arrays; rule, reason and check texts as codes into small tables."""
    from engine.regime.batch import kernel  # local import: heavy (numba), as in run()

    names = tables.CHECKS
    bits = out_i[7]  # check bit sets: < 2 ** len(names), a lookup table by value (no hashing)
    seen = np.flatnonzero(np.bincount(bits, minlength=1)) if len(bits) else np.zeros(0, np.int64)
    slot = np.zeros(int(seen[-1]) + 1 if len(seen) else 1, np.int64)
    slot[seen] = np.arange(len(seen))
    checks = Coded(slot[bits], [",".join(names[j] for j in range(len(names)) if (c >> j) & 1) for c in seen.tolist()])
    kinds, rix = out_i[3], out_i[4]
    nrn = len(tb.rule_names)
    rule_code = np.where(kinds == kernel.K_NONE, 0, np.where(kinds == kernel.K_INITIAL, 1,
                         np.where(kinds == kernel.K_EMERGENCY, 2 + nrn + rix, 2 + rix)))
    rule = Coded(rule_code, ["", "INITIAL", *tb.rule_names, *("EMERGENCY:" + r for r in tb.rule_names)])
    return Decided(out_i[0], out_i[1], out_f[0], out_i[2].astype(bool), rule,
                   reasons(clf, tb, out_i[5], out_f[1], out_f[2], out_i[6], out_i[8], gap), checks,
                   out_f[3], out_f[4], out_f[5])


# the numbers each reason's text shows: (field, decimals) with decimals None for an exact key
_FIELDS: dict[int, tuple[tuple[str, int | None], ...]] = {
    tables.R_GAP: (("gap", 0),), tables.R_ROUTE: (("cix", None),), tables.R_NORULE: (("cix", None),),
    tables.R_NOTE: (("cix", None),), tables.R_CONF: (("a", 2), ("b", 2), ("cix", None)),
    tables.R_MINDUR: (("a", 0), ("b", 0), ("cur", None)), tables.R_COOL: (("a", 0),),
    tables.R_PACE: (("a", 0), ("b", 0), ("cur", None), ("cix", None)),
    tables.R_CONFIRM: (("a", None), ("b", None)), tables.R_PERSIST: (("a", 2),), tables.R_MARGIN: (("a", 2),),
    tables.R_STRENGTH: (("a", 2),), tables.R_SIGNALS: (("a", None), ("b", None), ("cix", None)),
}


def reasons(clf: RegimeClassifier, tb: tables.Tables, code: np.ndarray, ra: np.ndarray, rb: np.ndarray,
            cix: np.ndarray, cur: np.ndarray, gap: np.ndarray) -> Coded:
    """decide()'s texts: rows are grouped by what their text shows (each number as formatted; one int key
    per row, hashed once), and each group's text is formatted once from one of its rows (tables.reasons,
    the live wording)."""
    out = np.zeros(len(code), np.int64)
    texts = [""]
    cols = {"a": ra, "b": rb, "cix": cix, "cur": cur, "gap": gap}
    for c in np.flatnonzero(np.bincount(code, minlength=1)).tolist() if len(code) else []:
        if c == tables.R_NONE:
            continue
        rows = np.flatnonzero(code == c)
        key, span = np.zeros(len(rows), np.int64), 1
        for fname, dec in _FIELDS.get(c, ()):
            ids = _ids(cols[fname][rows], dec)
            m = int(ids.max()) + 1 if len(ids) else 1
            if span * m >= 1 << 62:  # the combined key would overflow: renumber the groups so far first
                key = _factor(key)[0]
                span = int(key.max()) + 1
            key, span = key * m + ids, span * m  # one key per combination (a mixed radix number)
        inv, first = _factor(key)
        base = len(texts)
        pick = rows[first]  # one row per group; its numbers as Python floats / ints (one conversion per column)
        texts += tables.reasons(clf, tb, c, ra[pick].tolist(), rb[pick].tolist(), cix[pick].tolist(),
                                cur[pick].tolist(), gap[pick].tolist())
        out[rows] = base + inv
    return Coded(out, texts)


def _factor(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(group id per row, first row of each group), groups of equal values (a hash, not a sort)."""
    inv, uniq = pd.factorize(x, use_na_sentinel=False)
    first = np.empty(len(uniq), np.int64)
    first[inv[::-1]] = np.arange(len(x) - 1, -1, -1)
    return inv.astype(np.int64), first


def _ids(x: np.ndarray, decimals: int | None) -> np.ndarray:
    """Small ints >= 0, equal where the values print alike: exact values, or f"{x:.{decimals}f}" texts.

    Printing rounds the exact binary value half to even; rint(x * 10**d) does the same except within
    rounding error of a tie, for huge values, non-finite values and a negative zero result - those rows
    are keyed by their exact value instead."""
    if decimals is None or x.dtype.kind != "f":
        return _dense(x) if x.dtype.kind in "iu" else _factor(x)[0]
    with np.errstate(invalid="ignore", over="ignore"):
        s = x * 10.0 ** decimals
        k = np.rint(s)
        exact = ~(np.abs(s) < 1e9) | (np.abs(np.abs(s - np.trunc(s)) - 0.5) < 1e-6) | ((k == 0) & np.signbit(x))
    if not exact.any():
        return _dense(k.astype(np.int64))  # |k| < 1e9: whole numbers, exactly as ints
    ids = np.empty(len(x), np.int64)
    ik = _dense(k[~exact].astype(np.int64))
    ids[~exact] = ik
    ids[exact] = (ik.max() + 1 if len(ik) else 0) + _factor(x[exact])[0]
    return ids


def _dense(x: np.ndarray) -> np.ndarray:
    """Ints as offsets from their minimum when their range is small (no hashing), else group ids."""
    if not len(x):
        return np.zeros(0, np.int64)
    lo, hi = int(x.min()), int(x.max())
    if hi - lo <= 4 * len(x) + 64:
        return x.astype(np.int64) - lo
    return _factor(x)[0]
