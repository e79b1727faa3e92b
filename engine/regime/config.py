"""Small helpers over the typed parameters (engine/params/typed.py) that several regime modules share.

Modules read their own sheets as `Parameters(ps).<sheet>.<field>`, so a type checker catches a wrong
name and the ParamSet's read tracking still sees exactly what the engine consumed.
"""
from __future__ import annotations

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
