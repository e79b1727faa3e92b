"""The regime state machine over a chunk: inputs for the compiled loop (batch/kernel.py), and its
results back as per-row lists.

Computed here over arrays, once per chunk: hysteresis alternatives for every trend and volatility
class, each regime's evidence, the confirmation bars each row needs (StabilityPolicy.required_bars
per distinct sensitivity), and the signal counts for each case count_signals distinguishes. The
classifier's StabilityState is the loop's state: read in before the chunk, written back after it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from engine.regime.adaptive import map_vol
from engine.regime.batch import tables
from engine.regime.batch import vectors as vx
from engine.regime.batch.inputs import Inputs
from engine.regime.candidate import NEUTRAL_TARGET_MAX_SCORE
from engine.regime.formation import RegimeRow
from engine.regime.stability import Proposal, StabilityState

if TYPE_CHECKING:
    from engine.regime.classifier import RegimeClassifier


@dataclass
class Decided:
    """Per classified row: the outcome the records need."""

    regime: list[int]  # regime index (into formation.regimes)
    cand: list[int]
    conf: list[float]
    transition: list[bool]
    rule: list[str]
    blocked: list[str]
    checks: list[str]
    progress: list[float]
    time_in: list[float]
    persistence: list[float]


def signal_counts(clf: RegimeClassifier, act: list[np.ndarray], score: list[np.ndarray], vol: list[np.ndarray],
                  has_vol: list[np.ndarray], consensus_ok: np.ndarray,
                  edges: np.ndarray | None = None) -> dict[str, list[int]]:
    """candidate.count_signals' module part for every case it distinguishes (by direction / vol class);
    ``edges``: adaptive volatility boundaries per row (module readings classified on the class scale)."""
    f, tp, thr = clf.formation, clf.transitions, clf.stability.signal_strength
    skip = {n for n, keep in ((clf.greek.name, tp.validate_greeks), (clf.corr.name, tp.validate_correlation))
            if not keep}
    n = len(consensus_ok)
    use = [a & (consensus_ok if m is clf.mtf else True) for m, a in zip(clf.modules, act, strict=True)
           if m.name not in skip]
    idx = [k for k, m in enumerate(clf.modules) if m.name not in skip]
    out: dict[str, np.ndarray] = {"n": sum((u.astype(np.int64) for u in use), np.zeros(n, np.int64))}
    for key, test in (("up", lambda s: s >= thr), ("down", lambda s: -s >= thr), ("from_up", lambda s: s <= thr),
                      ("from_down", lambda s: -s <= thr), ("flat", lambda s: np.abs(s) < NEUTRAL_TARGET_MAX_SCORE)):
        out[key] = sum(((u & test(score[k])).astype(np.int64) for u, k in zip(use, idx, strict=True)),
                       np.zeros(n, np.int64))
    codes = {k: vx.vol_codes(f, vol[k] if edges is None else map_vol(vol[k], edges, clf.adaptive.abs_edges))
             for k in idx}
    for vb in f.vol:
        out[f"vol{vb.code}"] = sum(((u & has_vol[k] & (codes[k] == vb.code)).astype(np.int64)
                                    for u, k in zip(use, idx, strict=True)), np.zeros(n, np.int64))
    return {k: v.tolist() for k, v in out.items()}


def run(clf: RegimeClassifier, x: Inputs, adx: np.ndarray, counts: dict[str, list[int]], low_vol: list[bool],
        spike: list[bool], gaps: list[str], session_gap: list[bool], restricted: list[int]) -> Decided:
    """The chunk's rows through the compiled state machine, with the classifier's StabilityState as its state."""
    # local import: heavy (numba compiles on first use), not with every import of engine.regime
    from engine.regime.batch import kernel
    f, stab, tp, st, tbase = clf.formation, clf.stability, clf.transitions, clf.state, clf.tb
    assert tbase is not None  # chunks are classified once the bar interval is known
    tb = _tables(clf)
    regs = tb.regs
    n = len(x.t)
    pos = {r.regime_id: k for k, r in enumerate(regs)}
    talt = np.array([vx.trend_alt(f, t.code, x.t, adx, x.h, x.env, x.band, x.cache) for t in f.trend]).reshape(-1, n)
    valt = np.array([vx.vol_alt(f, v.code, x.v, x.h, x.vband) for v in f.vol]).reshape(-1, n)
    ev = np.array([vx.evidence(f, r, x.t, x.v, x.d, x.env, x.cache) for r in regs]).reshape(-1, n)
    need_of: dict[tuple[float, bool], int] = {}
    need = np.empty(n, np.int64)
    for k, key in enumerate(zip(x.sens.tolist(), session_gap, strict=True)):
        got = need_of.get(key)
        if got is None:
            got = need_of[key] = stab.required_bars(Proposal(regs[0], 0.0, 0.0, 0, 0, 0.0, False, False,
                                                             tbase.bar_minutes, key[0], 0.0, session_gap=key[1]))
        need[k] = got
    cnt = np.array([counts[k] for k in ("n", "up", "down", "from_up", "from_down", "flat")]
                   + [counts[f"vol{v.code}"] for v in f.vol], dtype=np.int64).reshape(-1, n)
    par = np.array([tbase.bar_minutes, clf.clock.session_minutes, stab.cooldown, stab.max_per_hour, stab.max_per_day,
                    tp.emergency_threshold, tp.max_emergency, stab.persistence_ratio, stab.min_per_day, stab.margin,
                    stab.signal_strength, stab.accuracy_w, stab.stability_w], dtype=np.float64)
    flags = np.array([stab.enforce_min_duration, stab.circuit_breaker, tp.circuit_breaker, tp.method == "SIMPLE",
                      tp.gap_handling == "STRICT", int(tp.validate_volume)], dtype=np.int64)
    si, sf, recent, trans, emerg = _state_in(st, pos)
    out_i, out_f = np.zeros((9, n), np.int64), np.zeros((6, n))
    kernel.run(x.band, x.vband, x.h, np.isfinite(x.v), np.asarray(restricted, np.int64), x.penalty,
               np.array([bool(g) for g in gaps], dtype=bool), np.asarray(session_gap, bool), np.asarray(spike, bool),
               need, x.persistent.astype(np.int64), np.asarray(low_vol, bool), x.d, cnt, ev, talt, valt, tb.pair,
               tb.reg_t, tb.reg_v, tb.tdir, tb.target, tb.note, tb.norule, tb.n_rules, tb.rule_thr, tb.rule_req,
               tb.rule_id, tb.min_dur, tb.max_dur, tb.has_exit, tb.exit_, tb.demote, par, flags, si, sf, recent,
               trans, emerg, out_i, out_f)
    _state_out(st, regs, si, sf, recent, trans, emerg)
    return _decided(clf, tb, out_i, out_f, gaps)


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
             gaps: list[str]) -> Decided:
    from engine.regime.batch import kernel  # local import: heavy (numba), as in run()

    names = tables.CHECKS
    check_text = {c: ",".join(names[j] for j in range(len(names)) if (c >> j) & 1) for c in set(out_i[7].tolist())}
    kinds, rix = out_i[3].tolist(), out_i[4].tolist()
    rules = [("" if kd == kernel.K_NONE else "INITIAL" if kd == kernel.K_INITIAL else
              ("EMERGENCY:" if kd == kernel.K_EMERGENCY else "") + tb.rule_names[r]) for kd, r in zip(kinds, rix, strict=True)]
    codes, cix, cur = out_i[5].tolist(), out_i[6].tolist(), out_i[8].tolist()
    ra, rb = out_f[1].tolist(), out_f[2].tolist()
    texts: dict[tuple[int, float, float, int, int, str], str] = {}  # reasons repeat: format each once
    blocked = []
    for key in zip(codes, ra, rb, cix, cur, gaps, strict=True):
        got = texts.get(key) if key[0] else ""
        if got is None:
            got = texts[key] = tables.reason(clf, tb, *key)
        blocked.append(got)
    return Decided(out_i[0].tolist(), out_i[1].tolist(), out_f[0].tolist(), out_i[2].astype(bool).tolist(), rules,
                   blocked, [check_text[c] for c in out_i[7].tolist()], out_f[3].tolist(), out_f[4].tolist(),
                   out_f[5].tolist())
