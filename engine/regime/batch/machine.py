"""The regime state machine over a chunk: one tight loop over the classified rows.

Per row it does what RegimeClassifier._step does from ``cur = st.regime`` on: hysteresis (a lookup
into per-class arrays computed once per chunk), slot demotion, the candidate, its confidence and the
current regime's (evidence arrays per regime, computed on first use), then the stability decision.
A row whose candidate is the current regime takes StabilityPolicy.decide's no-change branch inline;
every other row calls decide itself, so transitions, blocks and their reasons come from the live code.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from engine.regime import candidate
from engine.regime.batch import vectors as vx
from engine.regime.batch.inputs import Inputs
from engine.regime.candidate import NEUTRAL_TARGET_MAX_SCORE
from engine.regime.formation import RegimeRow
from engine.regime.stability import Proposal

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
                  has_vol: list[np.ndarray], consensus_ok: np.ndarray) -> dict[str, list[int]]:
    """candidate.count_signals' module part for every case it distinguishes (by direction / vol class)."""
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
    for vb in f.vol:
        out[f"vol{vb.code}"] = sum(((u & has_vol[k] & (vx.vol_codes(f, vol[k]) == vb.code)).astype(np.int64)
                                    for u, k in zip(use, idx, strict=True)), np.zeros(n, np.int64))
    return {k: v.tolist() for k, v in out.items()}


def run(clf: RegimeClassifier, x: Inputs, adx: np.ndarray, counts: dict[str, list[int]], low_vol: list[bool],
        spike: list[bool], gaps: list[str], session_gap: list[bool], restricted: list[int]) -> Decided:
    f, stab, st = clf.formation, clf.stability, clf.state
    tb = clf.tb
    regs = f.regimes
    pos = {r.regime_id: k for k, r in enumerate(regs)}
    pair = {(f.trend_by_name[r.trend_class].code, f.vol_by_name[r.vol_class].code): r for r in regs}
    tdir = [t.direction for t in f.trend]
    n = len(x.t)
    band, vband, hh = x.band.tolist(), x.vband.tolist(), x.h.tolist()
    vfin = np.isfinite(x.v).tolist()
    d_l, sens_l, pen_l = x.d.tolist(), x.sens.tolist(), x.penalty.tolist()
    pers_l = x.persistent.tolist()
    talt: dict[int, list[int]] = {}
    valt: dict[int, list[int]] = {}
    ev: dict[int, list[float]] = {}
    demoted: dict[tuple[int, int, int], int] = {}

    def evidence(r: RegimeRow) -> list[float]:
        got = ev.get(r.regime_id)
        if got is None:
            got = ev[r.regime_id] = vx.evidence(f, r, x.t, x.v, x.d, x.env).tolist()
        return got

    vv_extra = int(clf.transitions.validate_volume)
    out = Decided([], [], [], [], [], [], [], [], [], [])
    recent = st.recent
    bar_min, sess_min = tb.bar_minutes, clf.clock.session_minutes
    for k in range(n):
        cur = st.regime
        tr, vo, h = band[k], vband[k], hh[k]
        if cur is not None and h > 0:
            ct = f.trend_by_name[cur.trend_class].code
            if tr != ct:
                alt = talt.get(ct)
                if alt is None:
                    alt = talt[ct] = vx.trend_alt(f, ct, x.t, adx, x.h, x.env, x.band).tolist()
                tr = alt[k]
            cv = f.vol_by_name[cur.vol_class].code
            if vo != cv and vfin[k]:
                alt = valt.get(cv)
                if alt is None:
                    alt = valt[cv] = vx.vol_alt(f, cv, x.v, x.h, x.vband).tolist()
                vo = alt[k]
        slot = restricted[k]
        if slot >= 0:
            key = (tr, vo, slot)
            if key not in demoted:
                demoted[key] = candidate.demote(f, f.trend[tr], f.vol[vo], clf.clock.slots[slot].restricted).code
            tr = demoted[key]
        cand = pair.get((tr, vo)) or f.regime(f.trend[tr], f.vol[vo])
        n_rec = len(recent)
        conf_c = stab.confidence(evidence(cand)[k], (recent.count(cand.regime_id) + 1) / (n_rec + 1)) * pen_l[k]
        if cur is not None and cur.regime_id != cand.regime_id:
            conf_s = stab.confidence(evidence(cur)[k], recent.count(cur.regime_id) / (n_rec + 1)) * pen_l[k]
        else:
            conf_s = conf_c
        gap = gaps[k]
        rule, blocked, checks, progress, moved = "", "", "", 0.0, False
        if gap:
            st.clock += bar_min
            reg, blocked = cur or cand, gap
            if cur is None:
                st.regime, st.entered = cand, st.clock
        elif cur is not None and cur.regime_id == cand.regime_id:  # decide(): the candidate is the current regime
            st.clock += bar_min
            recent.append(cand.regime_id)
            st.pending, st.pending_count = None, 0
            reg = cur
        else:
            direction = tdir[tr]
            if cur is not None and f.trend_by_name[cur.trend_class].code == tr:
                sig = counts[f"vol{vo}"][k]
            elif direction:
                sig = counts["up" if direction > 0 else "down"][k]
            else:
                cd = tdir[f.trend_by_name[cur.trend_class].code] if cur is not None else 0
                sig = counts["from_up" if cd > 0 else "from_down" if cd < 0 else "flat"][k]
            sig += int(pers_l[k]) + (vv_extra and not low_vol[k])
            dec = stab.decide(st, Proposal(
                cand, conf_c, conf_s, sig, counts["n"][k] + 1 + vv_extra,
                max(0.0, direction * d_l[k]) if direction else 0.0, direction != 0, spike[k], bar_min,
                sens_l[k], sess_min, session_gap=session_gap[k]))
            reg, moved = dec.regime, dec.transition and dec.rule_id != "INITIAL"
            rule, blocked, checks, progress = dec.rule_id or "", dec.blocked_by, ",".join(dec.checks), dec.pending_progress
        out.regime.append(pos[reg.regime_id])
        out.cand.append(pos[cand.regime_id])
        out.conf.append(conf_c if reg.regime_id == cand.regime_id else conf_s)
        out.transition.append(moved)
        out.rule.append(rule)
        out.blocked.append(blocked)
        out.checks.append(checks)
        out.progress.append(float(progress))
        out.time_in.append(float(st.clock - st.entered))
        out.persistence.append(recent.count(reg.regime_id) / max(len(recent), 1))
    return out
