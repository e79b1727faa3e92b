"""Per-bar inputs of the state machine for a chunk, over arrays: weights, raw direction, direction
persistence, transition smoothing, sensitivities, the formation environment and the classes before
hysteresis. Mirrors RegimeClassifier._step up to ``cur = st.regime`` (nothing here reads regime state).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from engine.regime.adaptive import map_vol
from engine.regime.batch import vectors as vx
from engine.regime.batch.modules import ModuleArrays
from engine.regime.noise import NoiseFilter
from engine.regime.transitions import TransitionPolicy

if TYPE_CHECKING:
    from engine.regime.classifier import RegimeClassifier

Rows = np.ndarray | slice  # the classified rows of the replay: a slice when they are one run (views, no copies)
HIST_KEEP, HIST_MAX = 32, 64  # RegimeClassifier._dir_hist: trimmed to the last 32 once past 64


@dataclass
class Inputs:
    """Arrays over the classified rows of a chunk."""

    weights: list[np.ndarray]
    fired: np.ndarray
    persistent: np.ndarray
    t: np.ndarray  # smoothed trend component, on the class scale (adaptive.py; = the component when not adaptive)
    v: np.ndarray  # smoothed volatility component, on the class scale
    d: np.ndarray  # smoothed raw direction
    h: np.ndarray  # hysteresis per row
    sens: np.ndarray
    penalty: np.ndarray
    env: vx.Env
    band: np.ndarray  # trend class code before hysteresis
    vband: np.ndarray  # volatility class code before hysteresis
    cache: vx.RuleCache  # formation rule scores of this chunk's environment (they do not depend on the slope)
    t_raw: np.ndarray  # the smoothed components as recorded (trend_component, volatility_value)
    v_raw: np.ndarray
    edges: np.ndarray | None  # adaptive volatility boundaries in force per row (None: workbook thresholds)
    trend_tables: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # trend.tables (compiled passes)


def persistence(nf: NoiseFilter, hist: list[float], d: np.ndarray) -> np.ndarray:
    """NoiseFilter.persistent for each new reading; ``hist`` is extended (and trimmed) as the live path does."""
    n, lb = len(d), nf.persist_lookback
    if not nf.persist_on:
        out = np.ones(n, bool)
    elif not 0 < lb <= HIST_KEEP:  # a window the trimmed history may cut: the live function, one by one
        out = np.empty(n, bool)
        h = list(hist)
        for j, x in enumerate(d.tolist()):
            out[j] = nf.persistent(h, x)
            h.append(x)
            if len(h) > HIST_MAX:
                del h[:-HIST_KEEP]
    else:
        prefix = np.asarray(hist[-lb:], dtype=np.float64)
        big = np.concatenate([prefix, d])
        p = len(prefix) + np.arange(n)
        nrec = np.minimum(lb, p)
        cpos = np.r_[0, np.cumsum(big > 0)]
        cneg = np.r_[0, np.cumsum(big < 0)]
        same = np.where(d > 0, cpos[p] - cpos[p - nrec], cneg[p] - cneg[p - nrec])
        flip = np.r_[False, big[:-1] * big[1:] < 0]
        cflip = np.r_[0, np.cumsum(flip)]
        chop = nf.mean_reversion & (nrec >= 3) & (cflip[p + 1] - cflip[p - nrec + 1] == nrec)
        ok = same / np.maximum(nrec, 1) >= nf.persist_ratio
        out = (d == 0) | (nrec == 0) | (~chop & ok)
    total = len(hist) + n
    keep = total if total <= HIST_MAX else HIST_KEEP + (total - HIST_MAX - 1) % (HIST_MAX - HIST_KEEP + 1)
    tail = d[max(n - keep, 0):].tolist()  # only the kept readings become Python floats
    hist[:] = (hist[len(hist) - (keep - len(tail)):] if keep > len(tail) else []) + tail
    return out


def smoothing(tp: TransitionPolicy, hist: deque, t: np.ndarray, v: np.ndarray,
              d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TransitionManagement smoothing against the mean of the last smoothing_window readings (carried in hist)."""
    w, n = hist.maxlen or 1, len(t)
    new = list(zip(t[-w:].tolist(), v[-w:].tolist(), d[-w:].tolist(), strict=True))
    if not tp.smoothing_on:
        hist.extend(new)
        return t, v, d
    pre = np.asarray(list(hist), dtype=np.float64).reshape(-1, 3)
    base = w + len(pre)
    nwin = np.minimum(w, len(pre) + np.arange(n))
    k = tp.smoothing
    outs = []
    for col, x in enumerate((t, v, d)):
        big = np.concatenate([np.zeros(w), pre[:, col], x])  # zeros before the first reading: sum from 0 as sum()
        acc = np.zeros(n)
        for j in range(w, 0, -1):  # oldest first, as the live sum over the deque
            acc = acc + big[base - j:base - j + n]
        outs.append(np.where(nwin > 0, (1 - k) * x + k * acc / np.maximum(nwin, 1), x))
    hist.extend(new)
    return outs[0], outs[1], outs[2]


def rows(ready: np.ndarray) -> Rows:
    """The rows to classify: a slice when they are contiguous (the usual case: warm-up rows first), else indices."""
    idx = np.flatnonzero(ready)
    if len(idx) and int(idx[-1]) - int(idx[0]) + 1 == len(idx):
        return slice(int(idx[0]), int(idx[-1]) + 1)
    return idx


def compute(clf: RegimeClassifier, ma: ModuleArrays, sel: Rows, noise: dict[str, np.ndarray],
            slots: np.ndarray) -> Inputs:
    """Everything _step computes before it looks at the current regime, for rows ``sel`` of the chunk."""
    f, tp = clf.formation, clf.transitions
    act = [x[sel] for x in ma.active]
    sc = [x[sel] for x in ma.score]
    v_atr, pct, adx = ma.v_atr[sel], ma.pct[sel], ma.adx[sel]
    k_iv = clf.modules.index(clf.iv)
    iv_vol = ma.vol[k_iv][sel]
    use_iv = act[k_iv] & ma.has_vol[k_iv][sel] & (iv_vol != 0)
    v_raw = np.where(use_iv, clf.atr.cw * v_atr + (1 - clf.atr.cw) * iv_vol, v_atr)
    low_vol = noise["low_volume"][sel]
    k_corr = clf.modules.index(clf.corr)
    env_w = {"atr_percentile": pct, "adx": adx, "expiry_day": ma.expiry_day[sel], "low_volume": low_vol,
             "high_correlation": act[k_corr] & (ma.mean_abs_rho[sel] >= clf.corr.min_corr)}
    w, fired = vx.weights(clf.weighting, [(m.name, m.component, m.base_weight) for m in clf.modules], act, env_w,
                          vx.high_vol_level(f, v_raw))
    d_raw = np.zeros(len(v_raw))
    for wk, ak, sk in zip(w, act, sc, strict=True):
        if ak.any():  # an inactive module adds +0.0 everywhere, which leaves every sum as it is
            d_raw = d_raw + np.where(ak, wk * sk, 0.0)
    pers = persistence(clf.noise, clf._dir_hist, d_raw)
    d_use = np.where(pers, d_raw, 0.0)
    t_price = ma.slope[sel]
    t_raw = np.where(np.isfinite(t_price), t_price, 0.0) + d_use * f.slope_scale
    t_s, v_s, d_s = smoothing(tp, clf._raw_hist, t_raw, v_raw, d_use)
    t_rec, v_rec, edges = t_s, v_s, None
    if clf.adaptive.enabled:  # RegimeClassifier._step: thr = adaptive.step(t_s, v_s); t_c, v_c
        edges, scales = clf.adaptive.series(t_s, v_s)
        t_s, v_s = t_s / scales, map_vol(v_s, edges, clf.adaptive.abs_edges)
    slot_sens = np.array([s.sensitivity for s in clf.clock.slots] + [1.0])[slots[sel]]
    sens = slot_sens * np.where(env_w["expiry_day"], clf._expiry_factor(), 1.0)
    h = clf.stability.hysteresis / np.maximum(sens, 1e-9)
    nl = noise["noise"][sel]
    if clf.stability.adaptive_hysteresis:
        h = np.where(np.isfinite(nl), h * (1.0 + nl), h)
    k_greek = clf.modules.index(clf.greek)
    k_vp = clf.modules.index(next(m for m in clf.modules if m.name == "VolumeProfileAnalysis"))
    env: vx.Env = {"trend_slope": vx.as_env(t_s), "atr_percentile": vx.as_env(pct, np.isfinite(pct)),
                   "greek_sentiment": vx.as_env(sc[k_greek], act[k_greek]), "trend_strength": vx.as_env(np.abs(d_s)),
                   "price_in_range": vx.as_env(ma.in_range[sel]),
                   "volume_profile": vx.as_env(ma.vp_label[sel], act[k_vp])}
    penalty = np.where(low_vol, 1.0 - clf.noise.low_volume_penalty, 1.0)
    cache: vx.RuleCache = {}
    # local import: heavy (numba compiles on first use), not with every import of engine.regime
    from engine.regime.batch import trend
    tt = trend.tables(f, env, len(t_s), cache)
    return Inputs(w, fired, pers, t_s, v_s, d_s, h, sens, penalty, env, trend.codes(t_s, adx, *tt, f.neutral.code),
                  vx.vol_codes(f, v_s), cache, t_rec, v_rec, edges, tt)
