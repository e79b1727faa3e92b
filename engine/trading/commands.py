"""Control command rows: how a control action is handed from the web/CLI to the engine, and how
its steps are recorded one by one so the UI can show them live.

A command row's `result` JSON is {"executor": str, "steps": [{name, status, detail, started_at,
duration_ms}], "message": str}. Exactly one process executes a command: the one that moves it
from pending to running (`claim`), so the web and the engine never both act on it.
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.lease import check_fence
from engine.store.db import Store
from engine.store.db_clock import reader_now
from engine.store.models import CommandRow, EngineHeartbeat

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
STEP_PENDING, STEP_RUNNING, STEP_DONE, STEP_FAILED, STEP_SKIPPED = "pending", "running", "done", "failed", "skipped"
# How old the engine's last heartbeat may be before the web treats it as down or hung.
HEARTBEAT_STALE_S = 5.0


def process_label() -> str:
    """Who executes a command, as shown in the UI: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True, slots=True)
class StepResult:
    name: str
    status: str
    detail: str = ""
    started_at: str | None = None
    duration_ms: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "detail": self.detail,
                "started_at": self.started_at, "duration_ms": self.duration_ms}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepResult:
        return cls(name=str(data.get("name", "")), status=str(data.get("status", "")),
                   detail=str(data.get("detail", "")), started_at=data.get("started_at"),
                   duration_ms=data.get("duration_ms"))


def engine_alive(session: Session, now: datetime, stale_after_s: float = HEARTBEAT_STALE_S) -> bool:
    """True when an active engine has beaten within `stale_after_s` (the web then leaves work to it).

    The beat is aged by the database's clock when `now` is a wall-clock reading (db_clock.reader_now): the
    engine wrote it in the database's time, so neither the engine's nor this machine's clock skew matters."""
    newest = session.scalar(
        select(func.max(EngineHeartbeat.last_beat)).where(EngineHeartbeat.status == "active")
    )
    if newest is None:
        return False
    if newest.tzinfo is None:  # defensive: an aggregate may come back naive on SQLite
        newest = newest.replace(tzinfo=UTC)
    return reader_now(session, now) - newest <= timedelta(seconds=stale_after_s)


def create(session: Session, now: datetime, actor: str, kind: str, args: dict[str, Any],
           steps: list[StepResult], status: str, executor: str = "") -> CommandRow:
    row = CommandRow(created_at=now, actor=actor, kind=kind, args=args, status=status,
                     result={"executor": executor, "steps": [s.as_dict() for s in steps], "message": ""},
                     started_at=now if status == RUNNING else None,
                     finished_at=now if status in (DONE, FAILED) else None)
    session.add(row)
    session.flush()
    return row


def _locked(session: Session, command_id: int) -> CommandRow | None:
    query = select(CommandRow).where(CommandRow.id == command_id)
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    return session.scalars(query).one_or_none()


def claim(store: Store, command_id: int, now: datetime, executor: str, fenced: Any = None) -> bool:
    """Move a pending command to running for `executor`; False when someone else already has it.

    `fenced`: the engine's context; an engine that lost its lease claims nothing (engine/lease.py), so a
    kill switch is never taken by a frozen old leader and left undone."""
    with store.write() as s:
        check_fence(s, fenced)
        row = _locked(s, command_id)
        if row is None or row.status != PENDING:
            return False
        row.status, row.started_at = RUNNING, now
        row.result = {**(row.result or {}), "executor": executor}
        return True


def take_over(store: Store, command_id: int, now: datetime, executor: str,
              stale_after_s: float = HEARTBEAT_STALE_S) -> str | None:
    """Move a running command claimed by an engine that has since stopped beating to `executor`; the engine's
    label when taken, else None (finished, run by a web process, or an engine is live and may still finish it).

    A kill switch an engine claimed and then froze on must not stay undone: its remaining steps (each one
    idempotent) run in the caller instead (ARCHITECTURE.md: a stale engine means the web does the broker steps)."""
    with store.write() as s:
        row = _locked(s, command_id)
        if row is None or row.status != RUNNING:
            return None
        before = str((row.result or {}).get("executor", ""))
        if not before.endswith("(engine)") or engine_alive(s, now, stale_after_s):
            return None
        row.result = {**(row.result or {}), "executor": f"{executor} (took over from {before}: its heartbeat stopped)"}
        return before


def lift_blocker(session: Session, now: datetime, within_s: float = 600.0) -> CommandRow | None:
    """A halt or flatten still pending or running (created within `within_s`): leaving HALTED must wait for it.
    Older ones no longer block (an executor that died leaves its row running)."""
    return session.scalars(select(CommandRow).where(
        CommandRow.status.in_((PENDING, RUNNING)), CommandRow.kind.in_(("halt", "flatten")),
        CommandRow.created_at >= now - timedelta(seconds=within_s)).order_by(CommandRow.id)).first()


def close_pending(session: Session, now: datetime, kind: str, message: str, keep_id: int | None = None) -> int:
    """Fail every pending command of `kind` (but `keep_id`) with `message`: a shutdown left for an engine that is
    gone, or superseded by a newer one, must never be picked up later by a new engine (which would then exit)."""
    rows = list(session.scalars(select(CommandRow).where(CommandRow.status == PENDING, CommandRow.kind == kind,
                                                         CommandRow.id != (keep_id or 0))))
    for row in rows:
        row.result = {**(row.result or {}), "message": message}
        row.status, row.finished_at = FAILED, now
    return len(rows)


def supersede_pending(session: Session, now: datetime, kind: str, by_id: int) -> int:
    return close_pending(session, now, kind, f"superseded by {kind} #{by_id}, recorded later; that one runs instead",
                         keep_id=by_id)


def status_of(store: Store, command_id: int) -> str | None:
    with store.read() as s:
        return s.scalar(select(CommandRow.status).where(CommandRow.id == command_id))


class StepLog:
    """Writes each step's progress to the command row as it happens (one short transaction each)."""

    def __init__(self, store: Store, command_id: int, steps: list[StepResult]) -> None:
        self.store = store
        self.command_id = command_id
        self.steps = {s.name: s for s in steps}
        self.order = [s.name for s in steps]

    def set(self, step: StepResult) -> None:
        if step.name not in self.steps:
            self.order.append(step.name)
        self.steps[step.name] = step
        self._write()

    def list(self) -> list[StepResult]:
        return [self.steps[name] for name in self.order]

    def finish(self, now: datetime, status: str, message: str) -> None:
        self._write(status=status, message=message, finished_at=now)

    def _write(self, status: str | None = None, message: str | None = None,
               finished_at: datetime | None = None) -> None:
        with self.store.write() as s:
            row = s.get(CommandRow, self.command_id)
            if row is None:
                return
            result = dict(row.result or {})
            result["steps"] = [st.as_dict() for st in self.list()]
            if message is not None:
                result["message"] = message
            row.result = result  # a new dict, so SQLAlchemy sees the change
            if status is not None:
                row.status = status
            if finished_at is not None:
                row.finished_at = finished_at


def pending(session: Session, kinds: frozenset[str]) -> list[CommandRow]:
    return list(session.scalars(
        select(CommandRow).where(CommandRow.status == PENDING, CommandRow.kind.in_(kinds)).order_by(CommandRow.id)
    ))


def abandon_stuck(store: Store, now: datetime, kinds: frozenset[str], older_than_s: float) -> int:
    """Mark running commands with no finish after `older_than_s` as failed, so no UI waits forever."""
    cutoff = now - timedelta(seconds=older_than_s)
    count = 0
    with store.write() as s:
        rows = s.scalars(select(CommandRow).where(
            CommandRow.status == RUNNING, CommandRow.kind.in_(kinds), CommandRow.started_at < cutoff))
        for row in rows:
            result = dict(row.result or {})
            result["message"] = (f"abandoned: {result.get('executor') or 'its executor'} did not finish within "
                                 f"{older_than_s:.0f} s (process died?); check the broker and run the action again")
            row.result, row.status, row.finished_at = result, FAILED, now
            count += 1
    return count


def latest(session: Session, kinds: frozenset[str] | None = None) -> CommandRow | None:
    query = select(CommandRow).order_by(CommandRow.id.desc()).limit(1)
    if kinds is not None:
        query = query.where(CommandRow.kind.in_(kinds))
    return session.scalars(query).first()
