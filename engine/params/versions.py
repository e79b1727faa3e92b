"""Parameter versions in the store: apply, read the active one, list, diff, roll back; all audited.

Why here and not in the store package: a version is a validated ParamSet plus who/why; the store
only holds rows. Every change happens in one transaction with its audit event, so a failed apply
changes nothing and a successful one is always explained.
"""
from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session, sessionmaker

from engine import audit
from engine.clock import Clock, SystemClock
from engine.store.db import Store
from engine.store.models import ParamVersion

from .diff import Change, diff_params
from .errors import (
    ANY_PARENT,
    AnyParent,
    ParamIssue,
    ParamsError,
    StaleVersionError,
    ValidationError,
    VersionNotFoundError,
)
from .paramset import ParamSet, default_params
from .stored import loaded_or_unchecked, printable

log = logging.getLogger(__name__)
StoreOrSessions = Store | sessionmaker[Session]  # what the writers accept: a Store, or a plain sessionmaker
SOURCES = ("default", "upload", "ui", "rollback", "cli", "tuning")  # tuning: engine/tuning/proposals.py


@dataclass(frozen=True)
class VersionInfo:
    """One row of the version history (without the values)."""

    id: int
    created_at: datetime
    author: str
    source: str
    note: str
    parent_id: int | None
    content_hash: str
    is_active: bool
    changes: int

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["created_at"] = self.created_at.isoformat()
        return d


@contextmanager
def _tx(store: StoreOrSessions) -> Iterator[Session]:
    """A write transaction from a Store (engine.store.db) or a plain sessionmaker."""
    if isinstance(store, Store):
        with store.write() as s:
            yield s
    else:
        with store() as s, s.begin():
            yield s


@lru_cache(maxsize=16)
def _parse(version_id: int, content_hash: str, values_json: str) -> ParamSet:
    """Stored JSON -> validated ParamSet, memoised: the engine reads the active version every cycle."""
    ps = ParamSet.from_canonical(printable(json.loads(values_json)), version_id=version_id)
    if ps.content_hash != content_hash:
        # the schema changed since the version was stored (e.g. a new sheet filled with defaults)
        log.info("parameter version %s re-hashed under the current schema", version_id)
    return ps


_RECENT: dict[tuple[int, str], ParamSet] = {}  # (id, content_hash) -> parsed: versions are never rewritten
_RECENT_KEPT = 16
_RECENT_LOCK = threading.Lock()


def _to_paramset(row: ParamVersion) -> ParamSet:
    ps = _parse(row.id, row.content_hash, row.values_json)
    with _RECENT_LOCK:
        if len(_RECENT) >= _RECENT_KEPT:
            _RECENT.pop(next(iter(_RECENT)), None)
        _RECENT[(row.id, row.content_hash)] = ps
    return ps


# Built once: statements read every cycle cost more to construct and cache-key than to run (SQLite).
_ACTIVE_HEAD = (select(ParamVersion.id, ParamVersion.content_hash)
                .where(ParamVersion.is_active.is_(True)).order_by(ParamVersion.id.desc()).limit(1))
_ACTIVE_ID = select(ParamVersion.id).where(ParamVersion.is_active.is_(True)).order_by(ParamVersion.id.desc()).limit(1)


def active_params(session: Session) -> ParamSet:
    """The active version (version_id set); the schema defaults (version_id None) if none was applied yet.

    Read every cycle by several jobs: the id and hash are read first, the version's values only when
    that version has not been parsed yet (a backtest reads it ~6 times a bar)."""
    head = session.execute(_ACTIVE_HEAD).first()
    if head is None:
        return default_params()
    with _RECENT_LOCK:
        known = _RECENT.get((head.id, head.content_hash))
    if known is not None:
        return known
    row = session.get(ParamVersion, head.id)
    return _to_paramset(row) if row is not None else default_params()


def active_params_or_none(store: Store) -> ParamSet | None:
    """The active version read in a session of its own, or None when it cannot be read (the store is
    unreachable, or a stored version no longer loads); the failure is logged and callers use their defaults.
    For code that must act even then: the kill switch, automatic halts, shutdown."""
    try:
        with store.read() as session:
            return active_params(session)
    except Exception:  # noqa: BLE001 - any failure: the caller's defaults apply, never a crash mid-control
        log.exception("could not load the active parameter set; defaults apply")
        return None


def active_version_id(session: Session) -> int | None:
    """Cheap check for hot reload: has a new version been applied since the last cycle?"""
    return session.scalars(_ACTIVE_ID).first()


MAX_VERSION_ID = 2**63 - 1  # the store's 64-bit id column; a larger id is a driver error, not "not found"


def get_version(session: Session, version_id: int) -> ParamSet:
    """A stored version; VersionNotFoundError for an id that is not stored (or could not be: not a 64-bit id)."""
    return _to_paramset(_version_row(session, version_id))


def get_version_unchecked(session: Session, version_id: int | None) -> tuple[ParamSet, list[ParamIssue]]:
    """A stored version (None: the active one, or the defaults) and its problems under today's schema: one that no
    longer validates is returned as stored (stored.unchecked_paramset), so the web page can show and fix it."""
    if version_id is not None:
        return loaded_or_unchecked(_version_row(session, version_id), _to_paramset)
    head = session.execute(_ACTIVE_HEAD).first()
    row = session.get(ParamVersion, head.id) if head is not None else None
    return loaded_or_unchecked(row, _to_paramset) if row is not None else (default_params(), [])


def _version_row(session: Session, version_id: int) -> ParamVersion:
    if isinstance(version_id, bool) or not isinstance(version_id, int) or not 1 <= version_id <= MAX_VERSION_ID:
        raise VersionNotFoundError(f"parameter version {str(version_id)[:24]} does not exist; see the version list")
    row = session.get(ParamVersion, version_id)
    if row is None:
        raise VersionNotFoundError(f"parameter version {version_id} does not exist; see the version list")
    return row


def list_versions(session: Session, limit: int = 200) -> list[VersionInfo]:
    rows = session.scalars(select(ParamVersion).order_by(ParamVersion.id.desc()).limit(limit))
    return [VersionInfo(r.id, r.created_at, r.author, r.source, r.note or "", r.parent_id, r.content_hash,
                        bool(r.is_active), len(json.loads(r.diff_json or "[]"))) for r in rows]


def count_versions(session: Session) -> int:
    """How many versions are stored: the page lists the newest 200 and says so when there are more."""
    return int(session.scalar(select(func.count()).select_from(ParamVersion)) or 0)


def diff_versions(session: Session, a: int, b: int) -> list[Change]:
    """What changed from version a to version b (cells as in b's exported workbook). A version that no longer
    validates under today's rules is compared as stored (stored.unchecked_paramset): that is the version a trader
    most needs to compare before rolling back to it, and validation refuses it only later, at the rollback."""
    return diff_params(*(loaded_or_unchecked(_version_row(session, v), _to_paramset)[0] for v in (a, b)))


def apply_version(store: StoreOrSessions, ps: ParamSet, author: str, source: str, note: str = "",
                  *, clock: Clock | None = None, action: str = "params.apply",
                  expected_parent: int | None | AnyParent = ANY_PARENT) -> ParamSet:
    """Store `ps` as the new active version (one transaction, audited); returns it with version_id.

    Applying content identical to the active version creates nothing and is audited as "unchanged".
    expected_parent: the active version the caller's edits were made on; when another version became
    active meanwhile, nothing is applied (StaleVersionError), so a stale editor cannot silently undo it.
    """
    if source not in SOURCES:
        raise ParamsError(f"unknown version source {source!r}; one of {', '.join(SOURCES)}")
    now = (clock or SystemClock()).now()
    try:  # re-validate under the current schema: nothing reaches the store unvalidated
        ps = ParamSet.from_canonical(ps.to_canonical(), schema=ps.schema)
    except ValidationError as e:
        with _tx(store) as s:
            audit.record(s, now, author, action, "param_version:new",
                         {"source": source, "note": note, "errors": [str(i) for i in e.issues[:20]]},
                         outcome="refused")
        raise
    stale: StaleVersionError | None = None
    with _tx(store) as s:
        _lock_versions(s)
        parent = s.scalars(select(ParamVersion).where(ParamVersion.is_active.is_(True))
                           .order_by(ParamVersion.id.desc()).limit(1).with_for_update()).first()
        active_id = parent.id if parent is not None else None
        if not isinstance(expected_parent, AnyParent) and expected_parent != active_id:
            audit.record(s, now, author, action, "param_version:new",
                         {"source": source, "note": note, "expected_parent": expected_parent, "active": active_id},
                         outcome="refused")
            stale = StaleVersionError(expected_parent, active_id)
        elif parent is not None and parent.content_hash == ps.content_hash:
            audit.record(s, now, author, action, f"param_version:{parent.id}",
                         {"source": source, "note": note, "unchanged": True}, outcome="unchanged")
            return ps.with_version(parent.id)
        else:
            version_id, n_changes = _insert_active(s, parent, ps, author, source, note, now, action)
    if stale is not None:
        raise stale  # after the transaction, so the refusal stays in the audit trail
    log.info("parameter version %s applied by %s (%s, %d changes)", version_id, author, source, n_changes)
    return ps.with_version(version_id)


_PG_APPLY_LOCK = 72_100_002  # advisory lock id: one parameter apply at a time (72_100_001: the migrator)


def _lock_versions(s: Session) -> None:
    """Serialise applies on something that always exists, before the active version is read.

    Why: on PostgreSQL a second writer's SELECT ... FOR UPDATE waits on the active row, and once the first writer
    commits, that row is no longer active and the new one was not in the statement's snapshot: the select returned
    nothing, so the version was stored with no parent, its changes counted against the defaults and a stale editor
    read "version None became active". A transaction-scoped advisory lock is taken first; under READ COMMITTED the
    select that follows sees whatever the previous writer committed. SQLite needs nothing: a Store's write
    transaction holds the database's write lock from BEGIN IMMEDIATE on.
    """
    if s.get_bind().dialect.name == "postgresql":
        s.execute(sql_text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_APPLY_LOCK})


def _insert_active(s: Session, parent: ParamVersion | None, ps: ParamSet, author: str, source: str, note: str,
                   now: datetime, action: str) -> tuple[int, int]:
    """Insert `ps` as the only active version, audited; returns (version id, number of changes)."""
    changes = diff_params(_diff_base(parent) if parent is not None else default_params(), ps)
    row = ParamVersion(created_at=now, author=author, source=source, note=note,
                       parent_id=parent.id if parent is not None else None, content_hash=ps.content_hash,
                       values_json=json.dumps(ps.to_canonical(), sort_keys=True, ensure_ascii=False),
                       diff_json=json.dumps([c.to_dict() for c in changes], ensure_ascii=False),
                       is_active=False)
    s.add(row)
    s.flush()
    s.execute(update(ParamVersion).where(ParamVersion.is_active.is_(True)).values(is_active=False))
    row.is_active = True
    audit.record(s, now, author, action, f"param_version:{row.id}",
                 {"source": source, "note": note, "parent_id": row.parent_id, "content_hash": row.content_hash,
                  "changes": len(changes), "first_changes": [str(c) for c in changes[:20]]})
    return row.id, len(changes)


def _diff_base(parent: ParamVersion) -> ParamSet:
    """The parent to count changes against, read as stored when it no longer validates (an older schema's bounds),
    so a version that fixes it can still be applied."""
    return loaded_or_unchecked(parent, _to_paramset)[0]


def ensure_default_version(store: StoreOrSessions, *, clock: Clock | None = None, author: str = "system") -> ParamSet:
    """On a fresh store, apply the schema defaults as version 1; otherwise return the active version."""
    with _tx(store) as s:
        if s.scalars(select(ParamVersion.id).limit(1)).first() is not None:
            return active_params(s)
    return apply_version(store, default_params(), author, "default", "schema defaults (reference workbook)",
                         clock=clock)


def record_export(store: StoreOrSessions, author: str, version_id: int | None, target: str, *,
                  clock: Clock | None = None) -> None:
    """Audit a download/export of a version (or of the default template when version_id is None)."""
    now = (clock or SystemClock()).now()
    with _tx(store) as s:
        audit.record(s, now, author, "params.export", f"param_version:{version_id}" if version_id else "template",
                     {"to": target})
