"""Plans in the store: each plan the engine or a user made (preset, sliders, regime, steps, score) and whether it
was sent, newest first for the Planner page's history."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import desc, select
from sqlalchemy.orm import Session

from engine.planner.types import PlanResult
from engine.store.models import PlannerPlan


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
