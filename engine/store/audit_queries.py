"""The audit trail, searched on the server: filters, pages and a streamed export over the whole history.

"Operator" events are people's (the web's "web:<user>", the CLI's "cli:<os user>"); everything else
(planner, risk triggers, reconciliation, dead-man's switch, broker sync) is "automatic".
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, desc, func, or_, select
from sqlalchemy.orm import Session

from engine.store.models import AuditEvent

OPERATOR_PREFIXES = ("web:", "cli:")
KINDS = ("operator", "automatic")
MAX_PAGE_SIZE = 500


@dataclass(frozen=True)
class AuditFilter:
    user: str = ""  # part of the actor's name
    action: str = ""  # action prefix, e.g. "control." or "auth.login"
    kind: str = ""  # "", "operator" or "automatic"
    outcome: str = ""
    since: datetime | None = None
    until: datetime | None = None
    hidden: tuple[str, ...] = ()  # action prefixes this reader may not see (RESTRICTED_ACTIONS for a non-admin)


# Who logged in from where, lockouts, names typed into the login box (sometimes a password), user changes: the
# admins' part of the trail (see webapp/audit_view.visible_to)
RESTRICTED_ACTIONS = ("auth.", "users.")


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filtered(query: Select[Any], f: AuditFilter) -> Select[Any]:
    if f.user:
        query = query.where(AuditEvent.actor.like(f"%{_escape_like(f.user)}%", escape="\\"))
    if f.action:
        query = query.where(AuditEvent.action.like(f"{_escape_like(f.action)}%", escape="\\"))
    operator = or_(*(AuditEvent.actor.like(f"{p}%") for p in OPERATOR_PREFIXES))
    if f.kind == "operator":
        query = query.where(operator)
    elif f.kind == "automatic":
        query = query.where(~operator)
    if f.outcome:
        query = query.where(AuditEvent.outcome == f.outcome)
    if f.since is not None:
        query = query.where(AuditEvent.ts >= f.since)
    if f.until is not None:
        query = query.where(AuditEvent.ts < f.until)
    for prefix in f.hidden:
        query = query.where(~AuditEvent.action.like(f"{_escape_like(prefix)}%", escape="\\"))
    return query


def kind_of(actor: str) -> str:
    return "operator" if actor.startswith(OPERATOR_PREFIXES) else "automatic"


def as_dict(e: AuditEvent) -> dict[str, Any]:
    return {"id": e.id, "ts": e.ts, "actor": e.actor, "role": e.role, "source": e.source, "kind": kind_of(e.actor),
            "action": e.action, "target": e.target, "outcome": e.outcome, "details": e.details or {}}


def page(session: Session, f: AuditFilter, number: int, size: int) -> tuple[list[dict[str, Any]], int]:
    """Page `number` (0 = newest) of `size` events matching `f`, and how many match in all."""
    size = max(1, min(size, MAX_PAGE_SIZE))
    total = int(session.scalar(_filtered(select(func.count()).select_from(AuditEvent), f)) or 0)
    rows = session.scalars(_filtered(select(AuditEvent), f).order_by(desc(AuditEvent.id))
                           .offset(max(0, number) * size).limit(size))
    return [as_dict(e) for e in rows], total


def iterate(session: Session, f: AuditFilter, batch: int = 1000) -> Iterator[dict[str, Any]]:
    """Every matching event, newest first, read in batches (the CSV export streams this)."""
    last_id: int | None = None
    while True:
        query = _filtered(select(AuditEvent), f).order_by(desc(AuditEvent.id)).limit(batch)
        if last_id is not None:
            query = query.where(AuditEvent.id < last_id)
        rows = list(session.scalars(query))
        if not rows:
            return
        for e in rows:
            yield as_dict(e)
        last_id = rows[-1].id


def distinct_actions(session: Session, hidden: tuple[str, ...] = ()) -> list[str]:
    return sorted(a for a in session.scalars(select(AuditEvent.action).distinct()) if not a.startswith(hidden))


def readable_details(details: dict[str, Any], limit: int = 400) -> str:
    """"key: value · key: value" instead of raw JSON; nested values flattened with dots."""
    parts: list[str] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif isinstance(value, list):
            parts.append(f"{prefix}: " + ", ".join(str(v) for v in value[:10]) + (" …" if len(value) > 10 else ""))
        else:
            parts.append(f"{prefix}: {value}")

    walk("", details or {})
    text = " · ".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "…"
