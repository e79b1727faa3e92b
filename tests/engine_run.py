"""A real engine cycle on a manual clock, warmed on the simulated market: for tests that need stored snapshots.

`warmed_engine` calls the jobs directly; `run_recorded_ticks` runs them as the engine loop does, each recorded
as a job run (a failing job fails the test)."""
from __future__ import annotations

from engine import jobs
from engine.clock import ManualClock
from engine.context import EngineContext
from engine.cycle import EngineCycle
from engine.runtime import build_context
from engine.settings import load_settings


def warmed_engine(database_url: str, market_ticks: int, warmup_polls: int = 900) -> tuple[EngineContext, EngineCycle]:
    """Build the engine's context on `database_url`, start it, and run the market job `market_ticks` times."""
    settings = load_settings(database_url=database_url, warmup_polls=warmup_polls)
    ctx = build_context(settings, with_source=True, migrate=True, clock=ManualClock())
    cycle = EngineCycle()
    jobs.heartbeat(ctx)
    jobs.ensure_instruments(ctx)
    jobs.resume_source(ctx, settings.warmup_polls)
    cycle.startup(ctx)
    for _ in range(market_ticks):
        ctx.clock.advance(1.0)
        cycle.market(ctx)
    return ctx, cycle


def run_recorded_ticks(ctx: EngineContext, ticks: int, cycle: EngineCycle | None = None) -> EngineCycle:
    """Start the engine's jobs on `ctx`, then run `ticks` rounds of the market and account jobs, 1 s apart."""
    cycle = cycle or EngineCycle()
    jobs.ensure_instruments(ctx)
    jobs.resume_source(ctx, ctx.settings.warmup_polls)
    assert jobs.run_recorded(ctx, "startup", cycle.startup)
    for _ in range(ticks):
        ctx.clock.advance(1.0)
        assert jobs.run_recorded(ctx, "market", cycle.market)
        assert jobs.run_recorded(ctx, "account", cycle.account)
    return cycle
