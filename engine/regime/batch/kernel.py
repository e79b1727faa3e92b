"""The regime state machine as one compiled loop (numba, cached on disk after the first compile).

Row by row it is RegimeClassifier._step from ``cur = st.regime`` on, with StabilityPolicy.decide
inlined: hysteresis and demotion by table lookup, the candidate's and the current regime's confidence
from per-regime evidence arrays, then routing, rule choice and the stability checks in decide's order.
Reasons come out as codes with their numbers (tables.reason turns them into decide's texts). State
(current and pending regime, clocks, the recent / transition / emergency windows) is carried in small
arrays between chunks; batch/machine.py moves it to and from the classifier's StabilityState.
"""
from __future__ import annotations

import numpy as np
from numba import njit

(R_NONE, R_GAP, R_ROUTE, R_NORULE, R_CONF, R_SESSION, R_MINDUR, R_COOL, R_CONFIRM, R_HOUR, R_DAY, R_PERSIST,
 R_MARGIN, R_STRENGTH, R_SIGNALS, R_NOTE, R_PACE) = range(17)
C_INITIAL, C_RULE, C_MINDUR, C_COOL, C_CONFIRM, C_RATE, C_PERSIST, C_MARGIN, C_SIGNALS = (1 << k for k in range(9))
K_NONE, K_INITIAL, K_RULE, K_EMERGENCY = 0, 1, 2, 3


@njit(cache=True)
def _count_eq(buf: np.ndarray, n: int, x: int) -> int:
    c = 0
    for j in range(n):
        if buf[j] == x:
            c += 1
    return c


@njit(cache=True)
def _count_after(buf: np.ndarray, n: int, t: float) -> int:
    c = 0
    for j in range(n):
        if buf[j] > t:
            c += 1
    return c


@njit(cache=True)
def _push_int(buf: np.ndarray, st: np.ndarray, k_len: int, k_head: int, x: int) -> None:
    """deque(maxlen=len(buf)).append on a ring: st[k_len] items, st[k_head] the next slot to write."""
    buf[st[k_head]] = x
    st[k_head] = (st[k_head] + 1) % len(buf)
    if st[k_len] < len(buf):
        st[k_len] += 1


@njit(cache=True)
def _push_float(buf: np.ndarray, st: np.ndarray, k_len: int, k_head: int, x: float) -> None:
    buf[st[k_head]] = x
    st[k_head] = (st[k_head] + 1) % len(buf)
    if st[k_len] < len(buf):
        st[k_len] += 1


@njit(cache=True)
def _evidence(r: int, k: int, agr: np.ndarray, mtr: np.ndarray, mvr: np.ndarray, rsc: np.ndarray, rkn: np.ndarray,
              reg_rule: np.ndarray, reg_t: np.ndarray, reg_v: np.ndarray, tdir: np.ndarray) -> float:
    """Formation.evidence of regime r on row k from vectors.evidence_parts (same operations and order)."""
    a = agr[tdir[reg_t[r]] + 1, k]
    m = 0.5 * (mtr[reg_t[r], k] + mvr[reg_v[r], k])
    q = reg_rule[r]
    if q >= 0 and rkn[q, k] > 0:
        return (a + m + rsc[q, k]) / 3
    return (a + m) / 2


@njit(cache=True)
def run(band, vband, h, vfin, slot_r, pen, gap, sgap, spike, outsize, need, pers, low_vol, d, cnt,  # noqa: PLR0913, PLR0915
        agr, mtr, mvr, rsc, rkn, reg_rule, talt, valt, pair, reg_t, reg_v, tdir, target_t, note_t, norule_t, n_rules, rule_thr, rule_req, rule_id,
        min_dur, max_dur, has_exit, exit_, demote, par, flags, si, sf, recent, trans, emerg, out_i, out_f):
    """Rows k of one chunk. si = [cur, pending, pending_count, n_recent, recent_head, n_trans, trans_head,
    n_emerg, emerg_head]; sf = [clock, entered, last_transition]. out_i[:, k] = regime, candidate,
    transition, rule kind, rule index, reason, reason index, checks, cur before; out_f[:, k] = confidence,
    reason a, reason b, progress, time in regime, persistence."""
    bar_min, day_window, cooldown, max_hour, max_day, em_thr, max_em, ratio, min_per_day, margin, ss, acc_w, \
        stab_w, tau = par[0], par[1], par[2], par[3], par[4], par[5], par[6], par[7], par[8], par[9], par[10], \
        par[11], par[12], par[13]
    enforce_min, cb_stab, cb_tp, simple, gap_strict = flags[0] > 0, flags[1] > 0, flags[2] > 0, flags[3] > 0, \
        flags[4] > 0
    vv_extra = flags[5]
    tot_w = acc_w + stab_w
    for k in range(len(band)):
        cur = si[0]
        tr, vo = band[k], vband[k]
        if cur >= 0 and h[k] > 0:
            if tr != reg_t[cur]:
                tr = talt[reg_t[cur], k]
            if vo != reg_v[cur] and vfin[k]:
                vo = valt[reg_v[cur], k]
        if slot_r[k] >= 0:
            tr = demote[tr, vo, slot_r[k]]
        cand = pair[tr, vo]
        n_rec = si[3]
        share = (_count_eq(recent, n_rec, cand) + 1) / (n_rec + 1)
        e = _evidence(cand, k, agr, mtr, mvr, rsc, rkn, reg_rule, reg_t, reg_v, tdir)
        conf_c = ((acc_w * e + stab_w * share) / tot_w if tot_w > 0 else e) * pen[k]
        conf_s = conf_c
        if cur >= 0 and cur != cand:
            share = _count_eq(recent, n_rec, cur) / (n_rec + 1)
            e = _evidence(cur, k, agr, mtr, mvr, rsc, rkn, reg_rule, reg_t, reg_v, tdir)
            conf_s = ((acc_w * e + stab_w * share) / tot_w if tot_w > 0 else e) * pen[k]
        reg, kind, rix, code, cix, checks = cur, K_NONE, 0, R_NONE, 0, 0
        ra, rb, progress = 0.0, 0.0, 0.0
        if gap[k]:
            sf[0] += bar_min
            code = R_GAP
            if cur < 0:
                reg = cand
                si[0] = cand
                sf[1] = sf[0]
        elif cur >= 0 and cur == cand:
            sf[0] += bar_min
            _push_int(recent, si, 3, 4, cand)
            si[1], si[2] = -1, 0
        else:
            direction = tdir[tr]
            if cur >= 0 and reg_t[cur] == tr:
                sig = cnt[6 + vo, k]
            elif direction != 0:
                sig = cnt[1, k] if direction > 0 else cnt[2, k]
            else:
                cd = tdir[reg_t[cur]] if cur >= 0 else 0
                sig = cnt[3, k] if cd > 0 else cnt[4, k] if cd < 0 else cnt[5, k]
            sig += pers[k] + (1 if vv_extra > 0 and not low_vol[k] else 0)
            avail = cnt[0, k] + 1 + vv_extra
            strength = 0.0
            if direction != 0:
                x = direction * d[k]
                strength = x if x > 0.0 else 0.0
            sf[0] += bar_min
            t = sf[0]
            if cur < 0:  # decide(): the first regime
                reg, kind, checks, progress = cand, K_INITIAL, C_INITIAL, 1.0
                si[0], sf[1], si[1], si[2] = cand, t, -1, 0
                _push_int(recent, si, 3, 4, cand)
            else:
                tgt = target_t[cur, cand]
                _push_int(recent, si, 3, 4, tgt if tgt >= 0 else cur)
                if tgt < 0 or tgt == cur:
                    si[1], si[2] = -1, 0
                    if tgt < 0:
                        code, cix = R_ROUTE, note_t[cur, cand]
                else:
                    if si[1] != tgt:
                        si[1], si[2] = tgt, 0
                    if not spike[k] or (outsize[k] and bar_min >= day_window and reg_v[tgt] > reg_v[cur]):  # StabilityPolicy.raises_volatility
                        si[2] += 1
                    nd = need[k]
                    progress = min(1.0, si[2] / nd)
                    nrl = n_rules[cur, cand]
                    if nrl == 0:
                        code, cix = R_NORULE, norule_t[cur, cand]
                    else:
                        j = -1
                        for q in range(nrl):
                            if conf_c >= rule_thr[cur, cand, q]:
                                j = q
                                break
                        if j < 0:
                            code, ra, rb, cix = R_CONF, conf_c, rule_thr[cur, cand, 0], rule_id[cur, cand, 0]
                        else:
                            checks |= C_RULE
                            emergency = False
                            if cb_tp and conf_c >= em_thr:
                                emergency = _count_after(emerg, si[7], t - day_window) < max_em
                            time_in = t - sf[1]
                            if not emergency:
                                nday = _count_after(trans, si[5], t - day_window)  # StabilityPolicy.pace_minutes
                                pace = min(day_window / tau * nday / tau, max_dur[cur]) if tau > 0 else 0.0
                                if sgap[k] and gap_strict:
                                    code = R_SESSION
                                elif enforce_min and time_in < min_dur[cur]:
                                    code, ra, rb = R_MINDUR, time_in, min_dur[cur]
                                elif time_in < pace:
                                    code, ra, rb, cix = R_PACE, time_in, pace, nday
                                elif t - sf[2] < cooldown:
                                    code, ra = R_COOL, t - sf[2]
                                elif si[2] < nd:
                                    code, ra, rb = R_CONFIRM, si[2], nd
                                else:
                                    checks |= C_MINDUR | C_COOL | C_CONFIRM
                            if code == R_NONE and cb_stab:
                                if _count_after(trans, si[5], t - 60.0) >= max_hour:
                                    code = R_HOUR
                                elif _count_after(trans, si[5], t - day_window) >= max_day:
                                    code = R_DAY
                                else:
                                    checks |= C_RATE
                            if code == R_NONE and not simple and not emergency:
                                sh = _count_eq(recent, si[3], tgt) / max(si[3], 1)
                                if sh < ratio:
                                    code, ra = R_PERSIST, sh
                                else:
                                    checks |= C_PERSIST
                            if code == R_NONE and not simple:
                                recent_day = _count_after(trans, si[5], t - day_window)
                                locked = time_in > day_window and recent_day < min_per_day
                                waived = (has_exit[cur] and conf_s < exit_[cur]) or time_in > max_dur[cur] or locked
                                nq = rule_req[cur, cand, j]
                                need_sig = nq if nq < avail else avail
                                if not waived and conf_c - conf_s < margin:
                                    code, ra = R_MARGIN, conf_c - conf_s
                                elif direction != 0 and strength < ss:
                                    code, ra = R_STRENGTH, strength
                                elif sig < need_sig:
                                    code, ra, rb, cix = R_SIGNALS, sig, need_sig, rule_id[cur, cand, j]
                                else:
                                    checks |= C_MARGIN | C_SIGNALS
                            if code == R_NONE:  # adopt the target
                                _push_float(trans, si, 5, 6, t)
                                sf[2] = t
                                if emergency:
                                    _push_float(emerg, si, 7, 8, t)
                                si[0], sf[1], si[1], si[2] = tgt, t, -1, 0
                                reg, kind, rix, progress = tgt, K_EMERGENCY if emergency else K_RULE, \
                                    rule_id[cur, cand, j], 1.0
                                code, cix = R_NOTE, note_t[cur, cand]
        if reg < 0:
            reg = cand
        out_i[0, k], out_i[1, k], out_i[2, k], out_i[3, k], out_i[4, k] = reg, cand, kind >= K_RULE, kind, rix
        out_i[5, k], out_i[6, k], out_i[7, k], out_i[8, k] = code, cix, checks, cur
        out_f[0, k] = conf_c if reg == cand or kind >= K_RULE else conf_s  # stability.shown_confidence
        out_f[1, k], out_f[2, k], out_f[3, k] = ra, rb, progress
        out_f[4, k] = sf[0] - sf[1]
        out_f[5, k] = _count_eq(recent, si[3], reg) / max(si[3], 1)
