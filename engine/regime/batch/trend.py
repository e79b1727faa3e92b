"""Formation.trend_class and candidate.trend_with_hysteresis per row, compiled (numba, cached on disk).

Why: as masked numpy passes over every row this took a dozen passes for the classes and as many again per
trend class for the hysteresis alternatives (~17 ms per 100,000 rows). Here each row is classified in one
compiled pass with the live code's comparisons in its first-match order (the directional classes by their
edge, strongest first, then the others around zero with their formation rule), and the hysteresis-shifted
slope and ADX use the live arithmetic (one multiply, one add or subtract: no contraction, no fast-math), so
every code equals the incremental path's (tests/unit/test_regime_batch.py, tests/integration/test_regime_batch_long.py).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from engine.regime.batch import vectors as vx
from engine.regime.formation import Formation


@njit(cache=True, inline="always")
def _code(s: float, a: float, k: int, fam: np.ndarray, fam_code: np.ndarray, oz: np.ndarray,
          oz_code: np.ndarray, oz_ok: np.ndarray, neutral: int) -> int:
    """Formation.trend_class for one row, as a code: fam rows (sign, |edge|, min ADX) in its order, then others_zero.
    Written without branches (first match by ``out < 0``): the bands' tests are data-dependent coin flips."""
    s = s if np.isfinite(s) else 0.0
    a = a if np.isfinite(a) else 0.0
    out = -1
    for j in range(len(fam_code)):
        hit = (fam[j, 0] * s > 0) & (abs(s) >= fam[j, 1]) & (a >= fam[j, 2]) & (out < 0)
        out = fam_code[j] if hit else out
    for j in range(len(oz_code)):
        hit = (oz[j, 0] <= s) & (s <= oz[j, 1]) & (a >= oz[j, 2]) & oz_ok[j, k] & (out < 0)
        out = oz_code[j] if hit else out
    return out if out >= 0 else neutral


@njit(cache=True)
def codes(slope: np.ndarray, adx: np.ndarray, fam: np.ndarray, fam_code: np.ndarray, oz: np.ndarray,
          oz_code: np.ndarray, oz_ok: np.ndarray, neutral: int) -> np.ndarray:
    out = np.empty(len(slope), np.int64)
    for k in range(len(slope)):
        out[k] = _code(slope[k], adx[k], k, fam, fam_code, oz, oz_code, oz_ok, neutral)
    return out


@njit(cache=True)
def alternatives(t: np.ndarray, adx: np.ndarray, h: np.ndarray, band: np.ndarray, cls: np.ndarray,
                 fam: np.ndarray, fam_code: np.ndarray, oz: np.ndarray, oz_code: np.ndarray, oz_ok: np.ndarray,
                 neutral: int) -> np.ndarray:
    """candidate.trend_with_hysteresis for every trend class c (row c of the result); cls[c] = (lo, hi, min ADX,
    max(|hi|, slope_scale), max(|lo|, slope_scale)). ``band`` must be ``codes`` of the same t, adx and tables:
    rows whose class is c, with no hysteresis, or with nothing to shift, take it without a second lookup."""
    out = np.empty((len(cls), len(t)), np.int64)
    for c in range(len(cls)):
        lo, hi, mn, shi, slo = cls[c, 0], cls[c, 1], cls[c, 2], cls[c, 3], cls[c, 4]
        for k in range(len(t)):
            if band[k] == c or h[k] <= 0:  # candidate.trend_with_hysteresis returns the band as it is
                out[c, k] = band[k]
                continue
            x = t[k]
            y = adx[k]
            if not (x > hi or x < lo or y < mn):  # nothing shifted: the class is the band (codes' own call)
                out[c, k] = band[k]
                continue
            if x > hi:
                x = x - h[k] * shi
            elif x < lo:
                x = x + h[k] * slo
            if y < mn:
                y = y + h[k] * mn
            again = _code(x, y, k, fam, fam_code, oz, oz_code, oz_ok, neutral)
            out[c, k] = c if again == c else band[k]
    return out


def tables(f: Formation, env: vx.Env, n: int,
           cache: vx.RuleCache | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Formation.trend_class's bands as arrays: directional (sign, |edge|, min ADX) in its order with their codes,
    others_zero (lo, hi, min ADX) with their codes and where their formation rule lets them apply."""
    fam_rows: list[tuple[float, float, float]] = []
    fam_code: list[int] = []
    for sgn in (1, -1):
        family = sorted((t for t in f.trend if t.direction == sgn), key=lambda t: -abs(t.lo if sgn > 0 else t.hi))
        for t in family:
            fam_rows.append((float(sgn), abs(t.lo if sgn > 0 else t.hi), float(t.min_adx)))
            fam_code.append(t.code)
    oz_ok = np.ones((len(f.others_zero), n), bool)
    for j, t in enumerate(f.others_zero):
        rule = f.rule_for(f.regime_name_like(t.name))
        if rule is not None:
            sc, known = vx.rule_score(rule, env, n, False, cache)
            oz_ok[j] = (known > 0) & (sc >= rule.min_score)
    return (np.array(fam_rows, np.float64).reshape(-1, 3), np.array(fam_code, np.int64),
            np.array([(t.lo, t.hi, t.min_adx) for t in f.others_zero], np.float64).reshape(-1, 3),
            np.array([t.code for t in f.others_zero], np.int64), oz_ok)


def class_edges(f: Formation) -> np.ndarray:
    """Per trend class (by code): lo, hi, min ADX and the hysteresis scales h is multiplied by."""
    out = np.empty((len(f.trend), 5))
    for c in f.trend:
        out[c.code] = (c.lo, c.hi, c.min_adx, max(abs(c.hi), f.slope_scale), max(abs(c.lo), f.slope_scale))
    return out
