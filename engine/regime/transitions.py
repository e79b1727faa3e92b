"""Transition rules (TransitionRules + TransitionManagement): which regime changes are allowed,
at what confidence, and how forbidden jumps are routed (reversal -> neutral buffer, low -> high
volatility -> medium). The id of the rule that allowed a change is recorded with it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.params.paramset import ParamSet
from engine.params.typed import Parameters
from engine.regime.formation import Formation, RegimeRow
from engine.regime.paramtext import name_matches


@dataclass(frozen=True, slots=True)
class TransitionRule:
    rule_id: str
    from_pattern: str
    to_pattern: str
    min_confidence: float
    max_duration: float
    required_signals: int
    priority: int
    description: str


class TransitionPolicy:
    def __init__(self, ps: ParamSet, formation: Formation) -> None:
        self.f = formation
        self.rules = tuple(sorted(
            (TransitionRule(_rid(r.rule_id), str(r.from_regime), str(r.to_regime), float(r.min_confidence),
                            float(r.max_duration), int(r.required_signals), int(r.priority), str(r.description))
             for r in Parameters(ps).transition_rules.rows),
            key=lambda t: (t.priority, t.rule_id)))
        self._matches: dict[tuple[str, str], list[TransitionRule]] = {}
        m = Parameters(ps).transition_management
        self.method = str(m.transition_detection_method).upper()
        self.confidence_required = float(m.transition_confidence_required)
        self.validate_greeks = bool(m.validate_with_greeks)
        self.validate_correlation = bool(m.validate_with_correlation)
        self.smoothing_window = int(m.smoothing_window)
        self.gap_handling = str(m.gap_transition_handling).upper()
        self.expiry_rules = str(m.expiry_day_rules).upper()
        self.allow_reversals = bool(m.allow_direct_reversals)
        self.neutral_buffer = bool(m.require_neutral_buffer)
        self.allow_vol_jumps = bool(m.allow_volatility_jumps)
        self.smoothing_on = bool(m.transition_smoothing_enabled)
        self.smoothing = float(m.smoothing_factor)
        self.validate_volume = bool(m.validate_with_volume)
        self.emergency_threshold = float(m.emergency_transition_threshold)
        self.circuit_breaker = bool(m.circuit_breaker_enabled)
        self.max_emergency = int(m.max_emergency_per_day)

    def route(self, current: RegimeRow, candidate: RegimeRow) -> tuple[RegimeRow | None, str]:
        """The regime to move toward (maybe an intermediate one), or None with the reason it is forbidden."""
        f = self.f
        tf, tt = f.trend_by_name[current.trend_class], f.trend_by_name[candidate.trend_class]
        trend, note = tt, ""
        if tf.direction * tt.direction < 0 and not self.allow_reversals:
            if not self.neutral_buffer:
                return None, f"direct reversal {current.name} -> {candidate.name} not allowed (allow_direct_reversals=FALSE)"
            trend, note = f.neutral, "neutral buffer before reversal"
        vf, vt = f.vol_by_name[current.vol_class], f.vol_by_name[candidate.vol_class]
        vol = vt
        if abs(vt.code - vf.code) >= 2 and not self.allow_vol_jumps:
            vol = f.vol[(vt.code + vf.code) // 2]
            note = (note + "; " if note else "") + "volatility steps through the middle class"
        return f.regime(trend, vol), note

    def stepping_stone(self, current: RegimeRow, target: RegimeRow) -> RegimeRow | None:
        """When no rule allows current -> target, the nearest regime toward it that a rule does allow:
        the next weaker trend of the target's direction, then the neutral, then the current trend, each at
        the target's volatility (e.g. Neutral -> Strong_Bullish goes through Bullish)."""
        f = self.f
        tt = f.trend_by_name[target.trend_class]
        vol = f.vol_by_name[target.vol_class]
        options = []
        if tt.direction != 0:
            edge = abs(tt.lo if tt.direction > 0 else tt.hi)
            weaker = [t for t in f.trend if t.direction == tt.direction
                      and abs(t.lo if t.direction > 0 else t.hi) < edge]
            options += sorted(weaker, key=lambda t: -abs(t.lo if t.direction > 0 else t.hi))
        options += [f.neutral, f.trend_by_name[current.trend_class]]
        for trend in options:
            mid = f.regime(trend, vol)
            if mid.regime_id not in (current.regime_id, target.regime_id) and self.matching(current, mid):
                return mid
        return None

    def matching(self, current: RegimeRow, target: RegimeRow) -> list[TransitionRule]:
        """Rules that allow current -> target, highest priority first (table built once per ParamSet)."""
        key = (current.name, target.name)
        got = self._matches.get(key)
        if got is None:
            got = self._matches[key] = [r for r in self.rules if name_matches(r.from_pattern, current.name)
                                        and name_matches(r.to_pattern, target.name)]
        return got


def _rid(v: Any) -> str:
    try:
        f = float(v)
        return str(int(f)) if f.is_integer() else str(v)
    except (TypeError, ValueError):
        return str(v)
