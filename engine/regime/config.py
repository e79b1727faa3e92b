"""Small helpers over the typed parameters (engine/params/typed.py) that several regime modules share.

Modules read their own sheets as `Parameters(ps).<sheet>.<field>`, so a type checker catches a wrong
name and the ParamSet's read tracking still sees exactly what the engine consumed.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from engine.params.grammar import megabytes_threshold, millis_threshold
from engine.params.paramset import ParamSet
from engine.params.typed import Parameters, ValidationRulesMainRow


def version_id(ps: ParamSet) -> str:
    return str(getattr(ps, "version_id", "") or "")


class Validation:
    """ValidationRules keyed by their action (the behaviour the engine implements for each)."""

    def __init__(self, ps: ParamSet) -> None:
        self.by_action: dict[str, ValidationRulesMainRow] = {
            str(r.action): r for r in Parameters(ps).validation_rules.rows}

    def enabled(self, action: str) -> bool:
        r = self.by_action.get(action)
        return bool(r.enabled) if r is not None else False

    def condition(self, action: str) -> str | None:
        r = self.by_action.get(action)
        return str(r.condition) if r is not None and r.enabled else None

    def tag(self, action: str) -> str:
        """' (VAL005 MinimumDuration, WARNING)' for messages; '' when the rule is absent."""
        r = self.by_action.get(action)
        return f" ({r.rule_id} {r.rule_name}, {r.severity})" if r is not None else ""

    def number(self, action: str, parse: Callable[[str], float | None]) -> float | None:
        """The number an enabled rule's condition gives (None: rule off or absent, or no number in it)."""
        text = self.condition(action)
        return parse(text) if text else None


# ValidationRules trigger_gc / reduce_computation without a number in the condition ('memory>threshold') read the
# PerformanceMetrics row's `acceptable` level; without that row these documented defaults apply.
DEFAULT_MEMORY_MB = 1024.0
DEFAULT_LATENCY_MS = 500.0


def performance_level(ps: ParamSet, metric: str) -> float | None:
    """A PerformanceMetrics row's acceptable level (memory_usage: MB, computation_time: ms per update)."""
    row = next((r for r in Parameters(ps).performance_metrics.rows if str(r.metric) == metric), None)
    return float(row.acceptable) if row is not None and row.acceptable is not None else None


@dataclass(frozen=True, slots=True)
class RuntimeLimits:
    """VAL010 trigger_gc and VAL011 reduce_computation: their limits (None: the rule is off) and tags."""

    memory_mb: float | None
    latency_ms: float | None
    memory_tag: str = ""
    latency_tag: str = ""

    @classmethod
    def of(cls, ps: ParamSet) -> RuntimeLimits:
        v = Validation(ps)

        def limit(action: str, parse: Callable[[str], float | None], metric: str, default: float) -> float | None:
            if not v.enabled(action):
                return None
            got = v.number(action, parse)
            if got is None:
                got = performance_level(ps, metric)
            return got if got is not None and got > 0 else default

        return cls(limit("trigger_gc", megabytes_threshold, "memory_usage", DEFAULT_MEMORY_MB),
                   limit("reduce_computation", millis_threshold, "computation_time", DEFAULT_LATENCY_MS),
                   v.tag("trigger_gc"), v.tag("reduce_computation"))
