"""Formation and weighting maths over whole arrays, written to give bit-identical floats to the
scalar code in formation.py, candidate.py and weighting.py (same operations in the same order).

Why a mirror and not a call: those functions run once per bar in the live path (~20 us each); here
each runs once per chunk of bars. The equality tests (tests/unit/test_regime_batch*.py) pin the two.
"""
from __future__ import annotations

import numpy as np

from engine.regime.formation import DIRECTIONAL_VARS, Formation, FormationRule, RegimeRow
from engine.regime.paramtext import Condition
from engine.regime.weighting import Weighting

Env = dict[str, tuple[np.ndarray, np.ndarray]]  # variable -> (values, known mask); values float or object
RuleCache = dict[tuple[object, ...], tuple[np.ndarray, np.ndarray]]  # (rule id, pattern, mirror) -> score, known;
# ("condition", Condition, mirrored) -> truth, known


def holds(c: Condition, env: Env, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Condition.holds per row: (truth, known)."""
    got = env.get(c.var)
    if got is None:
        return np.zeros(n, bool), np.zeros(n, bool)
    vals, known = got
    if c.op == "eq":
        if vals.dtype == object:  # a text variable (volume_profile): str(v) == v for its known rows
            truth = np.asarray(np.equal(vals, str(c.a)), dtype=bool).reshape(len(vals))
        else:
            truth = np.array([str(v) == str(c.a) for v in vals], dtype=bool)
        return truth & known, known
    x = np.asarray(vals, dtype=np.float64)
    x = np.abs(x) if c.absolute else x
    a = float(c.a)
    with np.errstate(invalid="ignore"):
        if c.op == ">":
            t = x > a
        elif c.op == "<":
            t = x < a
        elif c.op == ">=" or c.op == "min":
            t = x >= a
        elif c.op == "<=":
            t = x <= a
        else:  # range
            t = (a <= x) & (x <= (c.b if c.b is not None else a))
    return t & known, known


def rule_score(rule: FormationRule, env: Env, n: int, mirror: bool,
               cache: RuleCache | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Formation.rule_score per row: (fraction of evaluable conditions that hold, number evaluable as a
    small int array).

    Rules share conditions (the same ATR-percentile band, the same slope edge), so with a cache each
    distinct condition (mirrored or not) is evaluated once per replay, not once per rule."""
    key = (rule.rule_id, rule.pattern, mirror)
    if cache is not None and key in cache:
        return cache[key]
    m = len(rule.conditions) + 1
    small = np.int8 if m * m <= 127 else np.int64  # counts and their lookup index: bytes while they fit
    n_true: np.ndarray = np.zeros(n, small)
    n_known: np.ndarray = np.zeros(n, small)
    for c in rule.conditions:
        flip = mirror and c.var in DIRECTIONAL_VARS
        ckey = ("condition", c, flip)
        got = cache.get(ckey) if cache is not None else None
        if got is None:
            got = holds(c, _mirrored(env, c.var) if flip else env, n)
            if cache is not None:
                cache[ckey] = got
        n_true += got[0]
        n_known += got[1]
    score = _quotients(m)[n_true * m + n_known]  # one lookup, not a division per row (m fits the small type)
    if cache is not None:
        cache[key] = (score, n_known)
    return score, n_known


def _quotients(m: int) -> np.ndarray:
    """score = where(known > 0, true / max(known, 1), 0.0) for every (true, known) pair below m, flattened
    (the same integer-to-float divisions as per row: the lookup gives the same floats)."""
    got = _QUOTIENTS.get(m)
    if got is None:
        t, k = np.divmod(np.arange(m * m, dtype=np.int64), m)
        with np.errstate(invalid="ignore", divide="ignore"):
            got = _QUOTIENTS[m] = np.where(k > 0, t / np.maximum(k, 1), 0.0)
    return got


_QUOTIENTS: dict[int, np.ndarray] = {}  # by number of conditions + 1


def _mirrored(env: Env, var: str) -> Env:
    """The environment of a bullish rule mirrored to bearish: directional variable ``var`` negated."""
    got = env.get(var)
    if got is None:
        return env
    v, known = got
    return {var: (np.where(known, -np.asarray(v, dtype=np.float64), 0.0), known)}


def vol_codes(f: Formation, vol: np.ndarray) -> np.ndarray:
    """Formation.vol_class per row, as codes (indices into f.vol)."""
    out = np.full(len(vol), -1, np.int64)
    fin = np.isfinite(vol)
    out[~fin] = f.vol[min(1, len(f.vol) - 1)].code
    for v in f.vol:
        out[fin & (out < 0) & (v.lo <= vol) & (vol < v.hi)] = v.code
    rest = out < 0
    with np.errstate(invalid="ignore"):
        out[rest] = np.where(vol[rest] >= f.vol[-1].lo, f.vol[-1].code, f.vol[0].code)
    return out


def vol_alt(f: Formation, code: int, v: np.ndarray, h: np.ndarray, band: np.ndarray) -> np.ndarray:
    """candidate.vol_with_hysteresis for a current volatility class ``code``."""
    c = f.vol[code]
    with np.errstate(invalid="ignore"):
        v2 = np.where(v >= c.hi, v - h * max(abs(c.hi), f.vol_scale), v + h * max(abs(c.lo), f.vol_scale))
    return np.where(vol_codes(f, v2) == c.code, c.code, band)


def _inside(x: np.ndarray, lo: float, hi: float, scale: float, finite: np.ndarray | None = None) -> np.ndarray:
    """How far inside [lo, hi] x sits, in units of scale, capped at 1 (0 outside); ``finite``: isfinite(x)."""
    with np.errstate(invalid="ignore"):
        ok = (np.isfinite(x) if finite is None else finite) & ~(x < lo) & ~(x > hi)
        val = np.minimum(1.0, np.minimum(x - lo, hi - x) / scale)
    return np.where(ok, val, 0.0)


def evidence(f: Formation, regime: RegimeRow, slope: np.ndarray, vol: np.ndarray, raw: np.ndarray,
             env: Env, cache: RuleCache | None = None) -> np.ndarray:
    """Formation.evidence per row for one regime."""
    t, v = f.trend_by_name[regime.trend_class], f.vol_by_name[regime.vol_class]
    if t.direction == 0:
        agree = 1.0 - np.minimum(np.abs(raw), 1.0)
    else:
        agree = 0.5 + 0.5 * t.direction * np.maximum(-1.0, np.minimum(1.0, raw))
    mt = _inside(slope, t.lo, t.hi, f.slope_scale)
    if t.direction != 0:
        edge = abs(t.lo if t.direction > 0 else t.hi)
        with np.errstate(invalid="ignore"):
            beyond = np.isfinite(slope) & (np.abs(slope) >= edge)
            mt = np.where(beyond, np.maximum(mt, np.minimum(1.0, (np.abs(slope) - edge) / f.slope_scale)), mt)
    margin = 0.5 * (mt + _inside(vol, v.lo, v.hi, f.vol_scale))
    rule, mirror = f.rule_for(regime.name), False
    if rule is None and "Bearish" in regime.name:
        rule, mirror = f.rule_for(regime.name.replace("Bearish", "Bullish")), True
    if rule is None:
        return (agree + margin) / 2
    sc, known = rule_score(rule, env, len(raw), mirror, cache)
    return np.where(known > 0, (agree + margin + sc) / 3, (agree + margin) / 2)


def evidence_parts(f: Formation, regimes: tuple[RegimeRow, ...], slope: np.ndarray, vol: np.ndarray,
                   raw: np.ndarray, env: Env, cache: RuleCache | None = None,
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``evidence``'s pieces per class rather than per regime, for the compiled loop to combine only for
    the two regimes it compares each row (same operations, same order as ``evidence``): agreement by
    direction + 1, the trend margin by trend code, the volatility margin by volatility code, formation
    rule scores and their evaluable counts, and each regime's rule (-1: none)."""
    n = len(raw)
    agree = np.empty((3, n))  # by direction + 1; shared subexpressions computed once (the same values)
    clipped = np.maximum(-1.0, np.minimum(1.0, raw))
    agree[0] = 0.5 + 0.5 * -1 * clipped
    agree[1] = 1.0 - np.minimum(np.abs(raw), 1.0)
    agree[2] = 0.5 + 0.5 * 1 * clipped
    s_fin = np.isfinite(slope)
    s_abs = np.abs(slope)
    mt = np.empty((len(f.trend), n))
    for t in f.trend:
        m = _inside(slope, t.lo, t.hi, f.slope_scale, s_fin)
        if t.direction != 0:
            edge = abs(t.lo if t.direction > 0 else t.hi)
            with np.errstate(invalid="ignore"):
                beyond = s_fin & (s_abs >= edge)
                m = np.where(beyond, np.maximum(m, np.minimum(1.0, (s_abs - edge) / f.slope_scale)), m)
        mt[t.code] = m
    mv = np.empty((len(f.vol), n))
    v_fin = np.isfinite(vol)
    for v in f.vol:
        mv[v.code] = _inside(vol, v.lo, v.hi, f.vol_scale, v_fin)
    scores: list[np.ndarray] = []
    knowns: list[np.ndarray] = []
    rule_of = np.full(len(regimes), -1, np.int64)
    row_of: dict[tuple[str, str, bool], int] = {}  # regimes sharing a rule (Sideways_*) share its row
    for k, regime in enumerate(regimes):
        rule, mirror = f.rule_for(regime.name), False
        if rule is None and "Bearish" in regime.name:
            rule, mirror = f.rule_for(regime.name.replace("Bearish", "Bullish")), True
        if rule is not None:
            key = (rule.rule_id, rule.pattern, mirror)
            if key not in row_of:
                sc, known = rule_score(rule, env, n, mirror, cache)
                row_of[key] = len(scores)
                scores.append(sc)
                knowns.append(known)
            rule_of[k] = row_of[key]
    sc_all = np.vstack(scores).reshape(len(scores), n) if scores else np.zeros((1, n))
    kn_all = np.asarray(np.vstack(knowns), np.int64).reshape(len(knowns), n) if knowns else np.zeros((1, n), np.int64)
    return agree, mt, mv, sc_all, kn_all, rule_of


def high_vol_level(f: Formation, vol: np.ndarray) -> np.ndarray:
    if f.high_bottom <= f.low_top:
        return np.zeros(len(vol))
    with np.errstate(invalid="ignore"):
        lvl = np.minimum(np.maximum((vol - f.low_top) / (f.high_bottom - f.low_top), 0.0), 1.0)
    return np.where(np.isfinite(vol), lvl, 0.0)


def weights(w: Weighting, modules: list[tuple[str, str, float]], active: list[np.ndarray],
            env: dict[str, np.ndarray], h: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Weighting.effective per row: (weight per module, number of adjustment rules fired)."""
    n = len(h)
    fired: list[tuple[np.ndarray, dict[str, float]]] = []
    for (key, thr), adj, _ in w.rules:
        got = env.get(key) if key else None
        if got is None:
            hit = np.zeros(n, bool)
        elif thr is None:
            hit = got.astype(bool) if got.dtype == bool else (got != 0) | np.isnan(got)
        else:
            with np.errstate(invalid="ignore"):
                hit = ~np.isnan(got) & (got > thr)
        fired.append((hit, adj))
    raw: list[np.ndarray | None] = []  # None: a module inactive on every row (weight 0 throughout)
    hc = np.minimum(np.maximum(h, 0.0), 1.0)
    for (name, comp, base), act in zip(modules, active, strict=True):
        if not act.any():
            raw.append(None)
            continue
        row = w.rows.get(comp)
        x = np.full(n, w.base(name, base, row))
        if row is not None and row.adaptive:
            x = x * (1.0 + (row.vol_adjust - 1.0) * hc)
            for hit, adj in fired:
                a = adj.get(comp, 0.0)
                if a != 0.0:  # x * (1.0 + 0.0) is x exactly: only rules that adjust this module
                    x = np.where(hit, x * (1.0 + a), x)
            x = np.minimum(np.maximum(x, row.lo), row.hi)
        raw.append(np.where(act, np.maximum(x, 0.0), 0.0))
    tot = np.zeros(n)
    for r in raw:  # +0.0 + r: adding an all-zero (+0.0) term leaves every sum as it is
        if r is not None:
            tot = tot + r
    with np.errstate(invalid="ignore", divide="ignore"):
        den = np.where(tot > 0, tot, 1.0)
        pos = tot > 0
        out = [np.zeros(n) if r is None else np.where(pos, r / den, 0.0) for r in raw]
    n_fired = np.zeros(n, np.int64)
    for hit, _ in fired:
        n_fired += hit
    return out, n_fired


def as_env(values: np.ndarray, known: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    return values, (np.ones(len(values), bool) if known is None else known)


__all__ = ["Env", "as_env", "evidence", "evidence_parts", "high_vol_level", "holds", "rule_score",
           "vol_alt", "vol_codes", "weights"]
