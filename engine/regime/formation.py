"""Formation: volatility and trend classes from the RegimeClassification thresholds, the regime of
a (trend, volatility) pair, RegimeFormationConfig rule scores, and the confidence of a candidate.

Units: the trend component is a log-price slope per bar of the longest configured timeframe (at
least one bar; on daily data, per day), the volatility component an annualised volatility; both are
compared with the threshold tables as they stand. Trend classes are tried strongest first in the
slope's direction (a class needs its MinADX); the zero-straddling classes follow: Sideways (its
RegimeFormationConfig rule must score MinScore) then the catch-all with the lowest MinADX (Neutral).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from engine.params.paramset import ParamSet
from engine.params.typed import Parameters
from engine.regime.paramtext import Condition, name_matches, parse_condition, percent_range

DIRECTIONAL_VARS = ("trend_slope", "greek_sentiment")  # negated when a bullish rule is mirrored to bearish


@dataclass(frozen=True, slots=True)
class TrendBand:
    name: str
    lo: float
    hi: float
    min_adx: float
    direction: int  # +1 bullish family, -1 bearish family, 0 straddles zero
    code: int


@dataclass(frozen=True, slots=True)
class VolBand:
    name: str
    lo: float
    hi: float
    code: int


@dataclass(frozen=True, slots=True)
class RegimeRow:
    regime_id: int
    name: str
    vol_class: str
    trend_class: str
    min_duration: float
    color: str
    description: str
    priority: float = 0.0


@dataclass(frozen=True, slots=True)
class FormationRule:
    rule_id: str
    pattern: str
    conditions: tuple[Condition, ...]
    min_score: float


class Formation:
    def __init__(self, ps: ParamSet) -> None:
        self.trend = tuple(TrendBand(str(r.class_), float(r.min_slope), float(r.max_slope), float(r.min_adx),
                                     1 if r.min_slope >= 0 else -1 if r.max_slope <= 0 else 0, k)
                           for k, r in enumerate(Parameters(ps).regime_classification.trend_thresholds))
        vrows = Parameters(ps).regime_classification.volatility_thresholds
        self.vol = tuple(VolBand(str(r.class_), float(r.min_value), float(r.max_value), k)
                         for k, r in enumerate(vrows))
        self.vol_pct = tuple((percent_range(r.atr_percentile), band) for r, band in zip(vrows, self.vol, strict=True))
        self.regimes = tuple(RegimeRow(int(r.regime_id), str(r.regime_name), str(r.volatility_class),
                                       str(r.trend_class), float(r.min_duration), str(r.color), str(r.description),
                                       float(r.priority))
                             for r in Parameters(ps).regime_classification.rows)
        self.ordered = tuple(sorted(self.regimes, key=lambda r: r.priority))  # display order (Priority column)
        self._by_pair = {(r.trend_class, r.vol_class): r for r in self.regimes}
        self.by_id = {r.regime_id: r for r in self.regimes}
        self.by_name = {r.name: r for r in self.regimes}
        self.trend_by_name = {t.name: t for t in self.trend}
        self.vol_by_name = {v.name: v for v in self.vol}
        self.rules = tuple(FormationRule(str(r.rule_id), str(r.regime_type),
                                         tuple(c for c in (parse_condition(r.condition1), parse_condition(r.condition2),
                                                           parse_condition(r.condition3)) if c is not None),
                                         float(r.min_score))
                           for r in Parameters(ps).regime_formation_config.rows)
        self._rule_cache: dict[str, FormationRule | None] = {}
        bounds = [abs(x) for t in self.trend for x in (t.lo, t.hi) if x != 0 and abs(x) < 1]
        self.slope_scale = min(bounds) if bounds else 1e-3
        vb = [abs(x) for v in self.vol for x in (v.lo, v.hi) if 0 < x < 1]
        self.vol_scale = min(vb) if vb else 0.1
        neutral = [t for t in self.trend if t.direction == 0]
        self.neutral = min(neutral, key=lambda t: t.min_adx) if neutral else self.trend[0]
        self.others_zero = sorted((t for t in neutral if t is not self.neutral), key=lambda t: -t.min_adx)
        self.low_top = self.vol[0].hi if self.vol else 0.0
        self.high_bottom = self.vol[-1].lo if self.vol else 1.0

    # -- classes ---------------------------------------------------------------------------
    def trend_class(self, slope: float, adx: float, env: dict[str, Any]) -> TrendBand:
        slope = 0.0 if not math.isfinite(slope) else slope
        adx = 0.0 if not math.isfinite(adx) else adx
        sgn = 1 if slope > 0 else -1 if slope < 0 else 0
        if sgn:
            family = sorted((t for t in self.trend if t.direction == sgn), key=lambda t: -abs(t.lo if sgn > 0 else t.hi))
            for t in family:
                edge = t.lo if sgn > 0 else t.hi
                if abs(slope) >= abs(edge) and adx >= t.min_adx:
                    return t
        for t in self.others_zero:
            if t.lo <= slope <= t.hi and adx >= t.min_adx:
                rule = self.rule_for(self.regime_name_like(t.name))
                if rule is None:
                    return t
                sc, known = self.rule_score(rule, env, mirror=False)
                if known and sc >= rule.min_score:
                    return t
        return self.neutral

    def vol_class(self, vol: float) -> VolBand:
        if not math.isfinite(vol):
            return self.vol[min(1, len(self.vol) - 1)]
        for v in self.vol:
            if v.lo <= vol < v.hi:
                return v
        return self.vol[-1] if vol >= self.vol[-1].lo else self.vol[0]

    def vol_class_by_percentile(self, pct: float) -> VolBand | None:
        """Volatility class from an ATR percentile and the thresholds' ATR_Percentile ranges (None if unknown)."""
        if not math.isfinite(pct):
            return None
        for rng, band in self.vol_pct:
            if rng is not None and rng[0] <= pct <= rng[1]:
                return band
        return None

    def regime(self, trend: TrendBand, vol: VolBand) -> RegimeRow:
        r = self._by_pair.get((trend.name, vol.name))
        if r is None:
            raise KeyError(f"RegimeClassification has no regime for trend {trend.name} and volatility {vol.name}")
        return r

    def regime_name_like(self, trend_name: str) -> str:
        return next((r.name for r in self.regimes if r.trend_class == trend_name), trend_name)

    def high_vol_level(self, vol: float) -> float:
        """0 at the top of the lowest class, 1 at the bottom of the highest (for weight adjustment)."""
        if not math.isfinite(vol) or self.high_bottom <= self.low_top:
            return 0.0
        return min(max((vol - self.low_top) / (self.high_bottom - self.low_top), 0.0), 1.0)

    # -- rules and confidence --------------------------------------------------------------
    def rule_for(self, regime_name: str) -> FormationRule | None:
        if regime_name not in self._rule_cache:
            self._rule_cache[regime_name] = next((r for r in self.rules if name_matches(r.pattern, regime_name)), None)
        return self._rule_cache[regime_name]

    def rule_score(self, rule: FormationRule, env: dict[str, Any], mirror: bool) -> tuple[float, int]:
        """Fraction of the rule's evaluable conditions that hold (and how many were evaluable)."""
        e = dict(env) if mirror else env
        if mirror:
            for k in DIRECTIONAL_VARS:
                if e.get(k) is not None:
                    e[k] = -float(e[k])
        res = [c.holds(e) for c in rule.conditions]
        known = [x for x in res if x is not None]
        return (sum(known) / len(known) if known else 0.0), len(known)

    def regime_rule_score(self, regime: RegimeRow, env: dict[str, Any]) -> tuple[float | None, float]:
        """(score, MinScore) of the formation rule for a regime; bearish regimes use the mirrored bullish rule."""
        rule = self.rule_for(regime.name)
        mirror = False
        if rule is None and "Bearish" in regime.name:
            rule = self.rule_for(regime.name.replace("Bearish", "Bullish"))
            mirror = True
        if rule is None:
            return None, 0.0
        sc, known = self.rule_score(rule, env, mirror)
        return (sc if known else None), rule.min_score

    def margin(self, slope: float, vol: float, trend: TrendBand, vb: VolBand) -> float:
        """How clearly the components sit inside the classes, in [0, 1] (0 = on or outside a boundary)."""
        def inside(x: float, lo: float, hi: float, scale: float) -> float:
            if not math.isfinite(x) or x < lo or x > hi:
                return 0.0
            return min(1.0, min(x - lo, hi - x) / scale)
        mt = inside(slope, trend.lo, trend.hi, self.slope_scale)
        if trend.direction != 0 and math.isfinite(slope) and abs(slope) >= abs(trend.lo if trend.direction > 0 else trend.hi):
            mt = max(mt, min(1.0, (abs(slope) - abs(trend.lo if trend.direction > 0 else trend.hi)) / self.slope_scale))
        mv = inside(vol, vb.lo, vb.hi, self.vol_scale)
        return 0.5 * (mt + mv)

    @staticmethod
    def agreement(direction: int, raw_score: float) -> float:
        if direction == 0:
            return 1.0 - min(abs(raw_score), 1.0)
        return 0.5 + 0.5 * direction * max(-1.0, min(1.0, raw_score))

    def evidence(self, regime: RegimeRow, slope: float, vol: float, raw: float, env: dict[str, Any]) -> float:
        t, v = self.trend_by_name[regime.trend_class], self.vol_by_name[regime.vol_class]
        parts = [self.agreement(t.direction, raw), self.margin(slope, vol, t, v)]
        rs, _ = self.regime_rule_score(regime, env)
        if rs is not None:
            parts.append(rs)
        return sum(parts) / len(parts)
