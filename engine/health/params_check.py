"""The health item of the active parameter version: whether it still loads.

A stored active version can stop loading (today's validation refuses a value an older release accepted, or its row
is unreadable); the gateway then accepts only exits and the risk job moves trading to REDUCING
(engine/trading/risk_limits.py fail_closed). The Health page says so, with the sheet/cell and what to do.
"""
from __future__ import annotations

from engine.health.grades import DEGRADED, HEALTHY, UNHEALTHY, CheckResult
from engine.params.versions import active_version_id
from engine.protocols import ControlContext
from engine.trading.risk_limits import active_limits_in

NAME = "parameters"


def check_active_params(ctx: ControlContext) -> CheckResult:
    """Unhealthy (with the problem named) when the active version cannot be loaded; healthy otherwise."""
    try:
        with ctx.store.read() as session:
            active_version_id(session)  # raises when the store cannot be read (active_limits_in would not)
            limits = active_limits_in(session)
    except Exception as exc:  # noqa: BLE001 - the store is down: the database check says so; this says unknown
        return CheckResult(NAME, DEGRADED, f"unknown: the store cannot be read ({type(exc).__name__})")
    if limits.params_problem is not None:
        return CheckResult(NAME, UNHEALTHY, limits.params_problem)
    if limits.version_id is None:
        return CheckResult(NAME, HEALTHY, "no version applied yet: the schema defaults apply")
    return CheckResult(NAME, HEALTHY, f"active version {limits.version_id} loads")
