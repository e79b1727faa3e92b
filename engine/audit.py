"""Audit trail: who did what, when, to what, with which outcome. Written in the caller's transaction."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.auth import principal
from engine.store.models import AuditEvent


def record(
    session: Session,
    ts: datetime,
    actor: str,
    action: str,
    target: str = "",
    details: dict[str, Any] | None = None,
    outcome: str = "ok",
) -> AuditEvent:
    """Add an audit event to the current transaction (committed or rolled back with the change itself).

    The role and source address come from the principal of the request being served (empty for
    the engine and the CLI), so they are recorded for every web action without being passed along.
    """
    who = principal.current()
    event = AuditEvent(ts=ts, actor=actor[:64], action=action[:48], target=str(target)[:128], details=details or {},
                       outcome=outcome[:16], role=who.role, source=who.source[:64])
    session.add(event)
    return event


def recent(session: Session, limit: int = 200, action_prefix: str | None = None) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if action_prefix:
        query = query.where(AuditEvent.action.startswith(action_prefix))
    return list(session.scalars(query))
