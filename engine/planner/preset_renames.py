"""Where a renamed user preset went: the name it has now, read from the store's own rename trail.

Why: the Planner page's other preset pickers (webapp/planner_pickers.py) learn of a rename made in the same browser
tab from its event, but one made in another tab or by another user reaches them only as "this name is gone". The
rename left a deletion marker on the old name and an audit event naming the marker and the new name
(preset_store.rename_user_preset), so the pickers can follow it instead of clearing the pick.
"""
from __future__ import annotations

from sqlalchemy import desc, select
from sqlalchemy.orm import Session

from engine.planner.preset_store import DELETED_BASE
from engine.store.models import AuditEvent, PlannerPresetVersion

MAX_HOPS = 8  # a chain of renames (a -> b -> c) is followed this far
RENAME_ACTION = "planner.rename_preset"


def _renamed_once(session: Session, name: str) -> str | None:
    """The name `name` was renamed to, if its newest version is the marker a rename left; else None."""
    newest = session.execute(select(PlannerPresetVersion.version, PlannerPresetVersion.base)
                             .where(PlannerPresetVersion.name == name)
                             .order_by(desc(PlannerPresetVersion.version)).limit(1)).first()
    if newest is None or newest.base != DELETED_BASE:
        return None
    for details in session.scalars(select(AuditEvent.details)
                                   .where(AuditEvent.action == RENAME_ACTION, AuditEvent.target == name)
                                   .order_by(desc(AuditEvent.id)).limit(MAX_HOPS)):
        if isinstance(details, dict) and details.get("marker_version") == newest.version:
            to = details.get("to")
            return to if isinstance(to, str) and to else None
    return None


def renamed_to(session: Session, name: str, live: set[str] | frozenset[str]) -> str | None:
    """The preset in `live` (the names that exist now) that `name` became through one or more renames, or None
    (deleted, never a user preset, or renamed into a name that is gone too)."""
    seen = {name}
    current = name
    for _ in range(MAX_HOPS):
        nxt = _renamed_once(session, current)
        if nxt is None or nxt in seen:
            return None
        if nxt in live:
            return nxt
        seen.add(nxt)
        current = nxt
    return None
