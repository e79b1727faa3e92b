"""How a bar's candidate regime is shaped before the stability rules: hysteresis around the current
classes, intraday slot restrictions (demotion), and the count of signals supporting a change.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from engine.regime.formation import Formation, RegimeRow, TrendBand, VolBand
from engine.regime.intraday import restricted_match
from engine.regime.types import ModuleResult

NEUTRAL_TARGET_MAX_SCORE = 0.5  # a module "supports" a move into a neutral class from none when |score| < this


def trend_with_hysteresis(f: Formation, t: float, adx: float, env: dict[str, Any], cur: RegimeRow | None,
                          h: float) -> TrendBand:
    """Leave the current trend class only if the move still does so once pulled back by the buffer."""
    band = f.trend_class(t, adx, env)
    if cur is None or band.name == cur.trend_class or h <= 0:
        return band
    c = f.trend_by_name[cur.trend_class]
    if t > c.hi:
        t2 = t - h * max(abs(c.hi), f.slope_scale)
    elif t < c.lo:
        t2 = t + h * max(abs(c.lo), f.slope_scale)
    else:
        t2 = t
    adx2 = adx + h * c.min_adx if adx < c.min_adx else adx
    again = f.trend_class(t2, adx2, env)
    return c if again.name == c.name else band


def vol_with_hysteresis(f: Formation, v: float, cur: RegimeRow | None, h: float) -> VolBand:
    band = f.vol_class(v)
    if cur is None or band.name == cur.vol_class or h <= 0 or not math.isfinite(v):
        return band
    c = f.vol_by_name[cur.vol_class]
    v2 = v - h * max(abs(c.hi), f.vol_scale) if v >= c.hi else v + h * max(abs(c.lo), f.vol_scale)
    return c if f.vol_class(v2).name == c.name else band


def demote(f: Formation, trend: TrendBand, vol: VolBand, restricted: tuple[str, ...]) -> TrendBand:
    """A slot-restricted trend class steps down: Strong_X -> X -> Neutral; Sideways -> Neutral."""
    for _ in range(len(f.trend)):
        name = f.regime(trend, vol).name
        if not restricted_match(restricted, trend.name, name, trend.direction != 0):
            return trend
        if trend.direction == 0:
            return f.neutral
        edge = abs(trend.lo if trend.direction > 0 else trend.hi)
        weaker = [t for t in f.trend if t.direction == trend.direction and abs(t.lo if t.direction > 0 else t.hi) < edge]
        trend = max(weaker, key=lambda t: abs(t.lo if t.direction > 0 else t.hi)) if weaker else f.neutral
    return trend


def count_signals(f: Formation, results: list[ModuleResult], cand: RegimeRow, cur: RegimeRow | None, direction: int,
                  threshold: float, skip: set[str], mtf_name: str, validate_volume: bool, volume_ok: bool,
                  persistent: bool, vol_map: Callable[[float], float] | None = None) -> tuple[int, int]:
    """(supporting signals, signals available) for a move to ``cand``: agreeing active modules (volatility
    readings for a same-trend move, on the class scale via ``vol_map``: adaptive.Thresholds.vol_value),
    direction persistence, and volume when validate_with_volume."""
    same_trend = cur is not None and cur.trend_class == cand.trend_class
    cur_dir = f.trend_by_name[cur.trend_class].direction if cur is not None else 0
    active = [r for r in results if r.active and r.name not in skip
              and (r.name != mtf_name or r.diagnostics.get("consensus_ok", True))]
    n = 0
    for r in active:
        if same_trend:
            ok = r.vol is not None and f.vol_class(vol_map(r.vol) if vol_map else r.vol).name == cand.vol_class
        elif direction != 0:
            ok = direction * r.score >= threshold
        else:
            ok = cur_dir * r.score <= threshold if cur_dir else abs(r.score) < NEUTRAL_TARGET_MAX_SCORE
        n += bool(ok)
    n += int(persistent) + int(validate_volume and volume_ok)
    return n, len(active) + 1 + int(validate_volume)
