"""Audit trail: who did what, when, to what, with which outcome. Written in the caller's transaction."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.auth import principal
from engine.store.models import AuditEvent


def storable(text: str, limit: int = 64) -> str:
    """`text` as any store column can hold it, cut to `limit`: a NUL byte (PostgreSQL text and JSON refuse it:
    the write raised, the action's whole transaction with it) or a lone surrogate (no UTF-8 encoding; a JSON
    body can carry one) becomes U+FFFD. A search filter passed through it finds the rows whose text went through
    it too (a typed login name)."""
    return "".join("\ufffd" if ch == "\x00" or "\ud800" <= ch <= "\udfff" else ch for ch in text[:limit])


def _storable_details(value: Any) -> Any:
    """Every string in the details (keys too) made storable, uncut: an audited value typed by a user (a
    parameter text, a preset name) must not make the audit write, and so the audited change, fail on PostgreSQL."""
    if isinstance(value, str):
        return storable(value, len(value))
    if isinstance(value, dict):
        return {_storable_details(k) if isinstance(k, str) else k: _storable_details(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_storable_details(v) for v in value]
    return value


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
    event = AuditEvent(ts=ts, actor=storable(actor, 64), action=storable(action, 48),
                       target=storable(str(target), 128), details=_storable_details(details or {}),
                       outcome=storable(outcome, 16), role=who.role, source=storable(who.source, 64))
    session.add(event)
    return event


def recent(session: Session, limit: int = 200, action_prefix: str | None = None) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if action_prefix:
        query = query.where(AuditEvent.action.startswith(action_prefix))
    return list(session.scalars(query))
