"""Thin, typed access to the ParamSet sections the regime engine reads.

Why a helper: one place knows how a sheet's sections are addressed; modules still read their
own attributes (so the ParamSet's read tracking sees exactly what the engine consumed).
"""
from __future__ import annotations

from typing import Any


def kv(ps: Any, sheet: str, section: str | None = None) -> Any:
    """The key/value section of a sheet (attribute access to typed values)."""
    return ps.sheet(sheet) if section is None else ps.sheet(sheet, section)


def rows(ps: Any, sheet: str, section: str | None = None) -> tuple[Any, ...]:
    """The rows of a table section (snake_case attributes)."""
    return tuple(ps.table(sheet) if section is None else ps.table(sheet, section))


def col(row: Any, name: str) -> Any:
    """Read a column whose name may be a Python keyword (e.g. 'class')."""
    return getattr(row, name)


def version_id(ps: Any) -> str:
    return str(getattr(ps, "version_id", "") or "")


class Validation:
    """ValidationRules keyed by their action (the behaviour the engine implements for each)."""

    def __init__(self, ps: Any) -> None:
        self.by_action = {str(r.action): r for r in rows(ps, "ValidationRules")}

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
