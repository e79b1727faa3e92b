"""The tuning job (its own scheduler job, every TUNING_SECONDS): drift, then auto-rollback, then a tuning run
when AdaptiveTuning adaptation_frequency hours have passed since the last one. Each step is recorded
as its own job run, so one failing step shows on the Health page without hiding the others."""
from __future__ import annotations

from engine import jobs
from engine.context import EngineContext
from engine.tuning.drift_job import check_drift


def run_tuning_job(ctx: EngineContext) -> None:
    jobs.run_recorded(ctx, "drift", check_drift)
