"""A real engine cycle on a manual clock, warmed on the simulated market: for tests that need stored snapshots."""
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
