"""Dynamic weighting (DynamicWeightageConfig): base weights, volatility adjustment, adjustment rules,
bounds, and redistribution over the modules that are active this bar.

w = base (IndicatorConfiguration Weight) x (1 + (VolatilityAdjust - 1) x h) x prod(1 + rule adjustments)
clipped to [MinWeight, MaxWeight] when AdaptiveEnabled, then normalised to sum 1 over active modules
(so a dropped module's weight goes to the others pro rata). h in [0, 1] is how high volatility is
between the top of the lowest and the bottom of the highest volatility class.

The base is the IndicatorConfiguration Weight whenever the module has a row there, 0 included: a
deliberate 0 stays 0 (no contribution) unless AdaptiveEnabled, where the documented clip lifts it to
MinWeight. DynamicWeightageConfig BaseWeight stands in only for a module without such a row.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.params.grammar import weight_condition
from engine.params.paramset import ParamSet
from engine.params.typed import Parameters
from engine.regime.paramtext import parse_adjustments


@dataclass(frozen=True, slots=True)
class WeightRow:
    base: float
    lo: float
    hi: float
    adaptive: bool
    vol_adjust: float


def compile_condition(condition: str) -> tuple[str, float | None]:
    """Map an adjustment-rule condition to a measured market state (the grammar the validator checks)."""
    return weight_condition(condition)


def condition_holds(compiled: tuple[str, float | None], env: dict[str, Any]) -> bool:
    key, thr = compiled
    if not key:
        return False
    v = env.get(key)
    if thr is None:
        return bool(v)
    return v is not None and v == v and v > thr


class Weighting:
    def __init__(self, ps: ParamSet) -> None:
        m = Parameters(ps).master_configuration
        # MasterConfiguration switches whole analysis families off (their modules drop out, weight redistributed)
        self.master_off = {comp for comp, on in (("MultiTimeframe", m.enable_multi_timeframe),
                                                 ("VolumeProfile", m.enable_volume_analysis),
                                                 ("GreekSentiment", m.enable_greek_analysis)) if not on}
        self.rows: dict[str, WeightRow] = {str(r.component): WeightRow(float(r.base_weight), float(r.min_weight), float(r.max_weight),
                                            bool(r.adaptive_enabled), float(r.volatility_adjust))
                     for r in Parameters(ps).dynamic_weightage_config.rows}
        self.rules = [(compile_condition(str(r.condition)), parse_adjustments(r.adjustment, ",".join(_seq(r.components))),
                       str(r.condition))
                      for r in Parameters(ps).dynamic_weightage_config.dynamic_weight_adjustment_rules]
        self.configured = {str(r.indicator_name) for r in Parameters(ps).indicator_configuration.rows}

    def base(self, name: str, base: float, row: WeightRow | None) -> float:
        """The module's base weight: its IndicatorConfiguration Weight (0 too) when it has a row there."""
        return base if name in self.configured else (row.base if row else 0.0)

    def effective(self, modules: list[tuple[str, str, float, bool]], env: dict[str, Any], h: float,
                  ) -> tuple[dict[str, float], list[str]]:
        """modules: (name, component, base weight, active). Returns weights (sum 1 over active) and fired rules."""
        fired = [(text, adj) for c, adj, text in self.rules if condition_holds(c, env)]
        raw: dict[str, float] = {}
        for name, comp, base, active in modules:
            if not active:
                raw[name] = 0.0
                continue
            row = self.rows.get(comp)
            w = self.base(name, base, row)
            if row is not None and row.adaptive:
                w *= 1.0 + (row.vol_adjust - 1.0) * min(max(h, 0.0), 1.0)
                for _, adj in fired:
                    w *= 1.0 + adj.get(comp, 0.0)
                w = min(max(w, row.lo), row.hi)
            raw[name] = max(w, 0.0)
        tot = sum(raw.values())
        return ({k: (v / tot if tot > 0 else 0.0) for k, v in raw.items()}, [c for c, _ in fired])


def _seq(v: Any) -> list[str]:
    if isinstance(v, str):
        return [s.strip() for s in v.split(",")]
    return [str(s) for s in v]
