"""Rollbacks of parameter versions: a new active version equal to an older one, audited (also when refused).

Why apart from versions.py: a rollback is an apply (versions.apply_version) preceded by reading what the target
makes active under today's schema; keeping that here keeps versions.py about storing and reading versions.
Callers import rollback, rollback_plan and rollback_with_report from here; this module builds on versions.py.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from engine import audit
from engine.clock import Clock, SystemClock
from engine.store.models import ParamVersion

from .errors import ANY_PARENT, AnyParent, ValidationError
from .paramset import ParamSet
from .stored import rollback_values
from .versions import _ACTIVE_HEAD, StoreOrSessions, _to_paramset, _tx, _version_row, apply_version


def rollback_plan(session: Session, to_version_id: int) -> tuple[ParamSet, list[str], int | None]:
    """What a rollback to `to_version_id` makes active (see stored.rollback_values), the parts kept from the active
    version in words, and the active version's id."""
    row = _version_row(session, to_version_id)
    head = session.execute(_ACTIVE_HEAD).first()
    active = session.get(ParamVersion, head.id) if head is not None else None
    ps, kept = rollback_values(row, active, _to_paramset)
    return ps, kept, active.id if active is not None else None


def rollback_with_report(store: StoreOrSessions, to_version_id: int, author: str, note: str = "", *,
                         clock: Clock | None = None,
                         expected_parent: int | None | AnyParent = ANY_PARENT) -> tuple[ParamSet, list[str]]:
    """rollback(), also returning the parts kept from the active version (the target lacks them).

    expected_parent: the active version the user decided on (the page's version); when another became active
    meanwhile, nothing is applied (StaleVersionError, audited), so a rollback confirmed on an older page cannot
    silently undo a version applied since. Without it, a rollback that keeps parts of the active version is still
    guarded by the active version read here (those parts came from it). A target that no longer validates under
    today's rules is refused with ValidationError, and the refusal is audited like a refused apply."""
    try:
        with _tx(store) as s:
            target, kept, active_id = rollback_plan(s, to_version_id)
    except ValidationError as e:
        _audit_refused(store, clock, author, to_version_id, note, e)
        raise
    text = f"rollback to version {to_version_id}"
    if kept:
        text += f" (kept from version {active_id}, which version {to_version_id} lacks: {', '.join(kept[:8])}" + \
            (f" and {len(kept) - 8} more)" if len(kept) > 8 else ")")
    text += f": {note}" if note else ""
    guard: dict[str, Any] = {}
    if not isinstance(expected_parent, AnyParent):
        guard["expected_parent"] = expected_parent
    elif kept:
        guard["expected_parent"] = active_id
    applied = apply_version(store, target, author, "rollback", text, clock=clock, action="params.rollback", **guard)
    return applied, kept


def _audit_refused(store: StoreOrSessions, clock: Clock | None, author: str, to_version_id: int, note: str,
                   e: ValidationError) -> None:
    """The audit row of a rollback refused because the target fails today's validation (nothing was applied)."""
    with _tx(store) as s:
        audit.record(s, (clock or SystemClock()).now(), author, "params.rollback", "param_version:new",
                     {"source": "rollback", "to_version": to_version_id, "note": note,
                      "errors": [str(i) for i in e.issues[:20]]}, outcome="refused")


def rollback(store: StoreOrSessions, to_version_id: int, author: str, note: str = "", *, clock: Clock | None = None) -> ParamSet:
    """A new active version whose values equal version `to_version_id` (history is never rewritten); what the target
    lacks (stored under an older schema) keeps the active version's values (see rollback_plan)."""
    return rollback_with_report(store, to_version_id, author, note, clock=clock)[0]
