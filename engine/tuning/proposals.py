"""Tuning proposals in the store: record a run's candidate, then apply it only through apply_version.

With AdaptiveTuning require_human_approval a candidate that beats the current version waits as
"pending" until an admin approves (applied as that admin, source "tuning") or rejects it; without it the
system user applies it at once and people are notified, provided the version it was tuned on is still the
active one; when another became active during the run (it takes minutes) it is kept as "stale" (audited),
not raised: a raise failed the tuning job before its run was noted, so the run was redone every tick. A
candidate that does not beat the current version is kept as "not_better" (the Parameters page shows why).
Every decision is audited.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session, sessionmaker

from engine import audit, notify
from engine.clock import Clock, SystemClock
from engine.params.errors import ParamsError, StaleVersionError, ValidationError
from engine.params.paramset import ParamSet
from engine.params.typed import Parameters
from engine.params.versions import _tx, apply_version
from engine.store.models import TuningProposal
from engine.tuning.tuner import TuningResult

if TYPE_CHECKING:
    from engine.store.db import Store

log = logging.getLogger(__name__)
SYSTEM_ACTOR = "system:tuning"
PENDING, APPLIED, REJECTED, NOT_BETTER, STALE = "pending", "applied", "rejected", "not_better", "stale"


class ProposalError(ParamsError):
    """A proposal that cannot be decided (unknown, already decided, or made on another version)."""


@dataclass(frozen=True)
class ProposalView:
    id: int
    created_at: datetime
    base_version_id: int | None
    status: str
    changes: list[str]
    validation: dict[str, object]
    reason: str
    decided_by: str | None
    applied_version_id: int | None


def _view(r: TuningProposal) -> ProposalView:
    return ProposalView(r.id, r.created_at, r.base_version_id, r.status, list(r.changes or []), dict(r.validation or {}),
                        r.reason, r.decided_by, r.applied_version_id)


def record(store: Store, current: ParamSet, result: TuningResult, seed: int, *, clock: Clock | None = None) -> int:
    """Store the run's candidate; auto-apply it when it beats the current version and no approval is required."""
    now = (clock or SystemClock()).now()
    approval = Parameters(current).adaptive_tuning.require_human_approval
    status = (PENDING if approval else APPLIED) if result.beats else NOT_BETTER
    with _tx(store) as s:
        row = TuningProposal(created_at=now, base_version_id=current.version_id, status=PENDING if result.beats
                             else NOT_BETTER, seed=seed, trials=result.trials,
                             changes=[c.text() for c in result.changes],
                             values_json=json.dumps(result.candidate.to_canonical(), sort_keys=True),
                             validation=result.validation.to_dict(), reason=result.reason)
        s.add(row)
        s.flush()
        pid = row.id
        # the status stored now; an auto-apply's outcome follows as tuning.apply or tuning.stale (it may find
        # another version active: the run takes minutes)
        audit.record(s, now, SYSTEM_ACTOR, "tuning.propose", f"tuning_proposal:{pid}",
                     {"status": row.status, "auto_apply": status == APPLIED, "changes": row.changes,
                      "reason": result.reason, "seed": seed})
        if status == PENDING:
            notify.after_commit(s, "RegimeDesk: a tuned parameter version waits for approval",
                                f"Proposal {pid} ({'; '.join(row.changes)}): {result.reason}. "
                                "Approve or reject it on the Parameters page.", level="info")
    if status == APPLIED:
        try:
            _apply(store, pid, SYSTEM_ACTOR, now, clock)
        except ProposalError:  # another version became active during the run: kept and audited as stale
            log.warning("tuning proposal %s not applied: version %s is no longer active", pid, current.version_id)
    return pid


def _claim(s: Session, pid: int, actor: str, status: str, now: datetime) -> TuningProposal:
    """Decide the proposal inside `s`'s transaction, or say who already did.

    Why a conditional UPDATE: of two deciders at once exactly one matches status='pending'. PostgreSQL
    makes the second UPDATE wait for the first one's row lock and re-check the condition after it commits;
    SQLite serialises write transactions from BEGIN IMMEDIATE. A read-then-write would let both pass."""
    result = s.execute(update(TuningProposal).where(TuningProposal.id == pid, TuningProposal.status == PENDING)
                       .values(status=status, decided_by=actor, decided_at=now))
    claimed = cast(CursorResult[Any], result).rowcount  # an UPDATE's result is a CursorResult
    row = s.get(TuningProposal, pid)
    if row is None:
        raise ProposalError(f"tuning proposal {pid} does not exist")
    if claimed != 1:
        by = f" by {row.decided_by}" if row.decided_by else ""
        raise ProposalError(f"tuning proposal {pid} is not pending: it was already {row.status}{by}; nothing to decide")
    return row


def _apply(store: Store, pid: int, actor: str, now: datetime, clock: Clock | None) -> int:
    """Claim the proposal and apply its candidate in ONE transaction (apply_version runs in a savepoint of it),
    so the proposal is applied, stale or still pending together with the parameter versions."""
    stale: StaleVersionError | None = None
    invalid: ValidationError | None = None
    version_id = 0
    with _tx(store) as s:
        row = _claim(s, pid, actor, APPLIED, now)
        base, changes = row.base_version_id, list(row.changes)
        inside = sessionmaker(bind=s.connection(), join_transaction_mode="create_savepoint", expire_on_commit=False)
        try:
            ps = ParamSet.from_canonical(json.loads(row.values_json))  # refused when the schema changed since
            applied = apply_version(inside, ps, actor, "tuning", f"tuning proposal {pid}: " + "; ".join(changes)[:400],
                                    clock=clock, action="params.apply", expected_parent=base)
        except StaleVersionError as e:
            stale = e
            row.status = STALE
            audit.record(s, now, actor, "tuning.stale", f"tuning_proposal:{pid}", {"base_version_id": base},
                         outcome="refused")
        except ValidationError as e:  # the schema changed under it: undecided, the refusal stays audited
            invalid = e
            row.status, row.decided_by, row.decided_at = PENDING, None, None
            audit.record(s, now, actor, "tuning.apply", f"tuning_proposal:{pid}",
                         {"errors": [str(i) for i in e.issues[:20]]}, outcome="refused")
        else:
            version_id = row.applied_version_id = int(applied.version_id or 0)
            audit.record(s, now, actor, "tuning.apply", f"tuning_proposal:{pid}",
                         {"version_id": version_id, "changes": changes})
            notify.after_commit(s, "RegimeDesk: tuned parameters applied",
                                f"Version {version_id} from tuning proposal {pid} by {actor}: "
                                + "; ".join(changes), level="info")
    if invalid is not None:
        raise invalid
    if stale is not None:
        raise ProposalError(f"tuning proposal {pid} was made on version {base}, which is no longer active; "
                            "run the tuning again on the active version") from None
    return version_id


def approve(store: Store, pid: int, actor: str, *, clock: Clock | None = None) -> int:
    """An admin's approval: the candidate becomes the active version, authored by that admin."""
    return _apply(store, pid, actor, (clock or SystemClock()).now(), clock)


def reject(store: Store, pid: int, actor: str, note: str = "", *, clock: Clock | None = None) -> None:
    now = (clock or SystemClock()).now()
    with _tx(store) as s:
        _claim(s, pid, actor, REJECTED, now)
        audit.record(s, now, actor, "tuning.reject", f"tuning_proposal:{pid}", {"note": note})


def list_proposals(store: Store, limit: int = 20) -> list[ProposalView]:
    with _tx(store) as s:
        return [_view(r) for r in s.scalars(select(TuningProposal).order_by(TuningProposal.id.desc()).limit(limit))]


def pending_proposals(store: Store, limit: int = 200) -> list[ProposalView]:
    """Every proposal still waiting for a decision, newest first: the page offers these whatever their age (each
    tuning run stores a proposal, so a pending one soon falls out of the newest list_proposals)."""
    with _tx(store) as s:
        return [_view(r) for r in s.scalars(select(TuningProposal).where(TuningProposal.status == PENDING)
                                            .order_by(TuningProposal.id.desc()).limit(limit))]


def get_proposal(store: Store, pid: int) -> ProposalView | None:
    with _tx(store) as s:
        row = s.get(TuningProposal, pid)
        return _view(row) if row is not None else None


def tuned_version_ids(store: Store) -> set[int]:
    """Versions that came from a tuning proposal (auto-applied or approved)."""
    with _tx(store) as s:
        ids = s.scalars(select(TuningProposal.applied_version_id).where(TuningProposal.applied_version_id.is_not(None)))
        return {int(v) for v in ids if v is not None}
