"""The vocabulary of health checks: the three grades and one check's result.

Its own module so every check module (checks.py, market_checks.py, ...) imports it downward and
checks.py can import the others without a cycle.
"""
from __future__ import annotations

from dataclasses import dataclass

HEALTHY, DEGRADED, UNHEALTHY = "healthy", "degraded", "unhealthy"
_RANK = {HEALTHY: 0, DEGRADED: 1, UNHEALTHY: 2}


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: str
    detail: str
    value: float | None = None


def worst(statuses: list[str]) -> str:
    """The most severe of several grades (healthy when there are none)."""
    return max(statuses, key=_RANK.__getitem__) if statuses else HEALTHY


def grade(value: float, degraded_at: float, unhealthy_at: float) -> str:
    """A measured value against its two thresholds."""
    return UNHEALTHY if value >= unhealthy_at else DEGRADED if value >= degraded_at else HEALTHY
