"""Plans in the store: each plan the engine or a user made (preset, sliders, regime, steps, score) and whether it
was sent, newest first for the Planner page's history. A plan a user sends (the Planner page) is stored with its
outcomes and one plan-level audit row (SEND_ACTION) in the same transaction, so the trail ties its orders together
and says what they were planned with (preset, base, sliders, overrides, the portfolio it was made on)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import desc, select
from sqlalchemy.orm import Session

from engine import audit
from engine.planner.execute import PLACED_NOTHING, SendOutcome
from engine.planner.types import PlanResult
from engine.store.models import AuditEvent, PlannerPlan

SEND_ACTION = "plan.send"  # one audit row per plan a user sends; its orders each have their order.submit row


@dataclass(frozen=True)
class StoredPlan:
    id: int
    created_at: datetime
    origin: str
    preset: str
    sliders: dict[str, float]
    regime: str | None
    preset_reason: str
    param_version_id: int | None
    sequences_evaluated: int
    elapsed_ms: float
    steps: list[dict[str, object]]
    score: dict[str, float]
    executed: bool
    outcomes: list[dict[str, object]]


def store_plan(session: Session, now: datetime, plan: PlanResult, origin: str, sliders: Mapping[str, float],
               param_version_id: int | None, executed: bool = False) -> PlannerPlan:
    row = PlannerPlan(
        created_at=now, origin=origin, preset=plan.preset, sliders=dict(sliders), regime=plan.regime,
        preset_reason=plan.preset_reason, param_version_id=param_version_id,
        sequences_evaluated=plan.sequences_evaluated, elapsed_ms=round(plan.elapsed_ms, 3),
        steps=[{"symbol": s.symbol, "side": s.side, "qty": s.qty, "price": s.price, "notional": round(s.notional, 2),
                "calculator": s.calculator, "pattern": s.pattern, "reason": s.reason, "cash_after": s.cash_after}
               for s in plan.steps],
        score={k: float(v) for k, v in plan.score.items()}, executed=executed, outcomes=[])
    session.add(row)
    session.flush()
    return row


def recent_plans(session: Session, limit: int = 20) -> list[StoredPlan]:
    rows = session.scalars(select(PlannerPlan).order_by(desc(PlannerPlan.id)).limit(max(1, min(limit, 500))))
    return [StoredPlan(r.id, r.created_at, r.origin, r.preset, dict(r.sliders), r.regime, r.preset_reason,
                       r.param_version_id, r.sequences_evaluated, r.elapsed_ms, list(r.steps), dict(r.score),
                       r.executed, list(r.outcomes)) for r in rows]


@dataclass(frozen=True)
class UserSend:
    """What a user's Send was made with: the plan's key, the composed preset's base, sliders and overrides, and the
    portfolio stamp it was made on (engine/planner/send_guard.py)."""

    key: str
    base: str
    sliders: Mapping[str, float]
    overrides: Mapping[str, object]
    portfolio: str
    param_version_id: int | None = None


def record_user_send(session: Session, now: datetime, actor: str, plan: PlanResult, send: UserSend,
                     outcomes: Sequence[SendOutcome], origin: str = "web") -> PlannerPlan:
    """Store a plan a user sent (executed when any step placed an order) and audit it as one SEND_ACTION row in the
    caller's transaction: without it the Stored plans tab never showed a page send, and nothing in the trail said
    which slider positions and overrides the orders were planned with."""
    placed = sum(1 for o in outcomes if o.status not in ("rejected", *PLACED_NOTHING))
    row = store_plan(session, now, plan, origin, send.sliders, send.param_version_id, executed=placed > 0)
    row.outcomes = [asdict(o) for o in outcomes]
    audit.record(session, now, actor, SEND_ACTION, target=send.key, outcome="ok" if placed else "nothing_placed",
                 details={"plan_id": row.id, "preset": plan.preset, "base": send.base, "sliders": dict(send.sliders),
                          "overrides": {k: v for k, v in send.overrides.items()}, "portfolio": send.portfolio,
                          "label": plan.label, "steps": len(plan.steps), "placed": placed,
                          "outcomes": [{"symbol": o.symbol, "side": o.side, "qty": o.qty, "status": o.status}
                                       for o in outcomes]})
    return row


def last_user_send(session: Session, key: str) -> dict[str, Any] | None:
    """The details of the newest SEND_ACTION row of plan `key`, or None: the plan was never sent from the page."""
    details = session.scalars(select(AuditEvent.details).where(AuditEvent.action == SEND_ACTION,
                                                               AuditEvent.target == key[:128])
                              .order_by(desc(AuditEvent.id)).limit(1)).first()
    return details if isinstance(details, dict) else None
