"""The trading state machine, persisted in the store (table trading_state, id = 1).

ACTIVE -> REDUCING (no new exposure) -> HALTED (no orders but an operator's audited flatten)
-> SHUTTING_DOWN -> STOPPED. Back to ACTIVE only by an explicit operator action. A shutdown that began HALTED
keeps the halt (halt_in_force): leaving that STOPPED lifts the halt and needs the same confirmation.
Every change is written with its audit event in the caller's transaction.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import audit, notify
from engine.store.models import TradingStateChange, TradingStateRow


class TradingState(StrEnum):
    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"
    SHUTTING_DOWN = "SHUTTING_DOWN"
    STOPPED = "STOPPED"


ALLOWED: dict[TradingState, frozenset[TradingState]] = {
    TradingState.ACTIVE: frozenset({TradingState.REDUCING, TradingState.HALTED, TradingState.SHUTTING_DOWN}),
    TradingState.REDUCING: frozenset({TradingState.ACTIVE, TradingState.HALTED, TradingState.SHUTTING_DOWN}),
    TradingState.HALTED: frozenset({TradingState.ACTIVE, TradingState.REDUCING, TradingState.SHUTTING_DOWN}),
    TradingState.SHUTTING_DOWN: frozenset({TradingState.STOPPED, TradingState.HALTED}),
    TradingState.STOPPED: frozenset({TradingState.ACTIVE, TradingState.HALTED}),
}
# Moving to a less restrictive state needs a person: automatic triggers may only tighten.
OPERATOR_ONLY: frozenset[tuple[TradingState, TradingState]] = frozenset(
    {
        (TradingState.REDUCING, TradingState.ACTIVE),
        (TradingState.HALTED, TradingState.ACTIVE),
        (TradingState.HALTED, TradingState.REDUCING),
        (TradingState.STOPPED, TradingState.ACTIVE),
    }
)
SYSTEM_ACTOR_PREFIX = "system:"


class IllegalTransition(Exception):
    """The requested state change is not allowed from the current state."""


@dataclass(frozen=True, slots=True)
class StateSnapshot:
    state: TradingState
    reason: str
    changed_by: str
    changed_at: datetime
    previous_state: TradingState | None


@dataclass(frozen=True, slots=True)
class HaltInfo:
    """The halt in force: trading HALTED, or a graceful shutdown (SHUTTING_DOWN, STOPPED) that began HALTED.

    A shutdown keeps the halt, so a restart never turns it into a plain STOPPED that one Resume click lifts.
    `token` is the id of the state change that set HALTED: a "Lift the halt?" dialog carries it, so its
    confirm lifts only the halt it showed."""

    token: str
    reason: str
    actor: str
    at: datetime
    state: TradingState  # HALTED, or SHUTTING_DOWN / STOPPED with the halt kept

    def describe(self) -> str:
        """'"bad fills" (by web:trader, 2026-01-05 14:30:00 UTC)': what the dialog and the refusals name."""
        return f'"{self.reason}" (by {self.actor}, {self.at:%Y-%m-%d %H:%M:%S} UTC)'


# Built once: the state is read several times a cycle, and building the statement cost more than running it.
_ROW = select(TradingStateRow).where(TradingStateRow.id == 1)
_ROW_LOCKED = _ROW.with_for_update()


def _row(session: Session, lock: bool) -> TradingStateRow | None:
    locked = lock and session.bind is not None and session.bind.dialect.name == "postgresql"
    return session.scalars(_ROW_LOCKED if locked else _ROW).one_or_none()


def ensure_state(session: Session, now: datetime, initial: TradingState = TradingState.ACTIVE) -> None:
    if _row(session, lock=False) is None:
        session.add(
            TradingStateRow(id=1, state=initial.value, reason="initial state", changed_by="system:init",
                            changed_at=now, previous_state=None)
        )
        session.flush()


def ensure_current(session: Session, now: datetime, initial: TradingState = TradingState.ACTIVE) -> StateSnapshot:
    """ensure_state, then current: from one read of the row (the risk job asks for both every cycle)."""
    row = _row(session, lock=False)
    if row is None:
        row = TradingStateRow(id=1, state=initial.value, reason="initial state", changed_by="system:init",
                              changed_at=now, previous_state=None)
        session.add(row)
        session.flush()
    return _snapshot(row)


def current(session: Session, lock: bool = False) -> StateSnapshot:
    """The current state; lock=True holds the row (PostgreSQL FOR UPDATE) for the rest of the transaction."""
    row = _row(session, lock)
    if row is None:
        raise LookupError("no trading state is recorded yet: the engine has not run on this store (its first run "
                          "records ACTIVE)")
    return _snapshot(row)


def _snapshot(row: TradingStateRow) -> StateSnapshot:
    return StateSnapshot(
        state=TradingState(row.state),
        reason=row.reason,
        changed_by=row.changed_by,
        changed_at=row.changed_at,
        previous_state=TradingState(row.previous_state) if row.previous_state else None,
    )


def halt_in_force(session: Session) -> HaltInfo | None:
    """The halt trading is under (HaltInfo), read from the state row and its newest changes; None when none is.

    A shutdown that began HALTED keeps the halt: HALTED -> SHUTTING_DOWN (-> STOPPED) still names it, so the
    banner, the lift dialog and control.perform treat the STOPPED that follows as halted."""
    row = _row(session, lock=False)
    if row is None or row.state not in (TradingState.HALTED, TradingState.SHUTTING_DOWN, TradingState.STOPPED):
        return None
    state = TradingState(row.state)
    changes = list(session.scalars(select(TradingStateChange).order_by(TradingStateChange.id.desc()).limit(3)))
    if state is TradingState.HALTED:
        newest = changes[0] if changes and changes[0].to_state == state else None
        token = str(newest.id) if newest is not None else f"at {row.changed_at.isoformat()}"
        return HaltInfo(token, row.reason, row.changed_by, row.changed_at, state)
    path = [(c.from_state, c.to_state) for c in changes]
    wanted = [(TradingState.HALTED, TradingState.SHUTTING_DOWN)]
    if state is TradingState.STOPPED:
        wanted.insert(0, (TradingState.SHUTTING_DOWN, TradingState.STOPPED))
    if path[:len(wanted)] != wanted or len(changes) <= len(wanted) or changes[len(wanted)].to_state != TradingState.HALTED:
        return None
    halt = changes[len(wanted)]
    return HaltInfo(str(halt.id), halt.reason, halt.actor, halt.ts, state)


def _kept_words(session: Session, to: TradingState) -> str:
    """What a shutdown's state change adds to its reason when it began HALTED: the halt stays, by name."""
    if to not in (TradingState.SHUTTING_DOWN, TradingState.STOPPED):
        return ""
    halt = halt_in_force(session)
    return "" if halt is None else f"; the halt stays: {halt.describe()}; Resume asks to lift it"


def change(session: Session, now: datetime, to: TradingState, actor: str, reason: str) -> StateSnapshot:
    """Move to `to`, recording who, when, why and from which state; refuse illegal moves."""
    if not reason.strip():
        raise IllegalTransition("a reason is required for every trading state change")
    ensure_state(session, now)
    row = _row(session, lock=True)
    assert row is not None
    frm = TradingState(row.state)
    if frm is to:
        return current(session)
    if to not in ALLOWED[frm]:
        raise IllegalTransition(f"cannot go from {frm} to {to}; allowed: {', '.join(sorted(ALLOWED[frm]))}")
    if (frm, to) in OPERATOR_ONLY and actor.startswith(SYSTEM_ACTOR_PREFIX):
        raise IllegalTransition(f"{frm} -> {to} needs an operator; automatic triggers may only tighten")
    reason += _kept_words(session, to)
    row.previous_state, row.state, row.reason, row.changed_by, row.changed_at = frm.value, to.value, reason, actor, now
    session.add(TradingStateChange(ts=now, from_state=frm.value, to_state=to.value, actor=actor, reason=reason))
    audit.record(session, now, actor, "trading_state.change", target=to.value,
                 details={"from": frm.value, "to": to.value, "reason": reason})
    notify.state_change(session, frm, to, actor, reason)  # HALTED/REDUCING/STOPPED: a message after the commit
    session.flush()
    return current(session)
