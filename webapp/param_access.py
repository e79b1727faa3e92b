"""Parameters page: which of its changing controls (Apply, Upload, Roll back) the signed-in user may use.

The role each control needs is read off the callback that performs it (its `@requires(...)` mark, the same
declaration webapp/auth/guard.py enforces on every callback request) and compared with `at_least`, the guard's
own ranking, so the page and the guard cannot disagree. Disabling a control is a courtesy: the guard still
refuses a forged request with 403.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.auth.roles import at_least
from webapp import param_apply_callbacks, param_version_callbacks
from webapp.auth.access import ROLE_ATTRIBUTE

APPLY, UPLOAD, ROLLBACK = "apply", "upload", "rollback"

# control -> (the callback that performs it, what the tooltip calls the action)
_CONTROLS: dict[str, tuple[Callable[..., Any], str]] = {
    APPLY: (param_apply_callbacks.apply_pending, "Applying a parameter version"),
    UPLOAD: (param_apply_callbacks.upload_workbook, "Uploading a workbook"),
    ROLLBACK: (param_version_callbacks.roll_back, "Rolling back to a version"),
}


@dataclass(frozen=True)
class Permit:
    allowed: bool
    needed: str  # the role the control's callback declares
    title: str | None  # why the control is disabled (its tooltip); None when allowed


def declared_role(callback: Callable[..., Any]) -> str:
    """The role a callback declares with @requires (as webapp.auth.access.callback_role reads it)."""
    role = getattr(getattr(callback, "__wrapped__", callback), ROLE_ATTRIBUTE, None)
    if role is None:  # the guard refuses an undeclared callback; so does the page
        raise LookupError(f"{callback.__qualname__} declares no role")
    return str(role)


def permit(role: str | None, control: str) -> Permit:
    callback, action = _CONTROLS[control]
    needed = declared_role(callback)
    if at_least(role, needed):
        return Permit(True, needed, None)
    return Permit(False, needed, f"{action} needs the {needed} role; you are {role or 'not signed in'}")


def permits(role: str | None) -> dict[str, Permit]:
    """Every changing control of the page -> whether `role` may use it."""
    return {control: permit(role, control) for control in _CONTROLS}
