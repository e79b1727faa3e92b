"""The live scorecard: measured by the tuning job from the stored snapshots (and the simulated market's
true path), the market job's recent durations and this process's memory; stored under SCORECARD_KEY so
the Regime page and /metrics read it without recomputing (a scrape never runs engine work).

With AdaptiveLearning retraining_trigger PERFORMANCE_BASED, an overall score below performance_threshold
asks the ensemble's refit job for a refit (REFIT_REQUEST_KEY, audited), at most once per REQUEST_EVERY."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psutil
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import audit
from engine.context import EngineContext
from engine.params.typed import Parameters
from engine.params.versions import active_params
from engine.store.keyvalue import REFIT_REQUEST_KEY, get_value, put_value
from engine.store.models import JobRun
from engine.tuning.history import from_store
from engine.tuning.scorecard import Scorecard, scorecard

SCORECARD_KEY = "tuning.scorecard"
WINDOW = 2000  # newest snapshots scored (about five sessions of one-minute bars)
JOB_RUNS = 100  # newest market job runs averaged into computation_time
REQUEST_EVERY = timedelta(hours=1)  # a low score asks for a refit at most this often
ACTOR = "system:scorecard"


def live_scorecard(ctx: EngineContext) -> Scorecard | None:
    if ctx.source is None:
        return None
    with ctx.store.read() as s:
        ps = active_params(s)
        h = from_store(s, ctx.source.index_symbol(), ps, WINDOW)
        ms = [float(v) for v in s.scalars(select(JobRun.duration_ms).where(JobRun.job == "market")
                                            .order_by(JobRun.id.desc()).limit(JOB_RUNS))]
    memory = psutil.Process().memory_info().rss / 2**20
    return scorecard(ps, h, computation_ms=sum(ms) / len(ms) if ms else None, memory_mb=memory)


def store_scorecard(ctx: EngineContext) -> Scorecard | None:
    """Measure and store the scorecard (the tuning job's step)."""
    card = live_scorecard(ctx)
    if card is None:
        return None
    now = ctx.clock.now()
    with ctx.store.write() as s:
        put_value(s, SCORECARD_KEY, {"ts": now.isoformat(), "overall": card.overall, "metrics": card.rows()}, now)
        al = Parameters(active_params(s)).adaptive_learning
        trigger, threshold = al.retraining_trigger, al.performance_threshold
        last = get_value(s, REFIT_REQUEST_KEY) or {}
        recent = last.get("ts") and now - datetime.fromisoformat(last["ts"]) < REQUEST_EVERY
        if trigger == "PERFORMANCE_BASED" and card.overall is not None and card.overall < threshold and not recent:
            why = f"scorecard overall {card.overall:.1%} below performance_threshold {threshold:.0%}"
            put_value(s, REFIT_REQUEST_KEY, {"ts": now.isoformat(), "reason": why}, now)
            audit.record(s, now, ACTOR, "tuning.refit_request", "regime_models", {"why": why})
    return card


def stored_scorecard(session: Session) -> dict[str, Any] | None:
    """The newest stored scorecard: {"ts", "overall", "metrics": [MetricScore fields]} or None."""
    value = get_value(session, SCORECARD_KEY)
    if value is not None:
        value = dict(value)
        value["ts"] = datetime.fromisoformat(value["ts"])
    return value
