"""Typed reads of a preset's flat values (`"costs.proportional" -> 0.0005`).

Presets are validated on load (engine/planner/preset.py); these reads check again so the value has a type the
type checker knows, and a bad value fails with the key's name instead of deep inside a calculator.
"""
from __future__ import annotations

from collections.abc import Mapping


def number(params: Mapping[str, object], key: str) -> float:
    """A numeric preset value. Presets are validated on load; the check here gives the value its type."""
    value = params[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"preset key {key} holds {value!r}, not a number")
    return float(value)


def whole(params: Mapping[str, object], key: str) -> int:
    return int(number(params, key))
