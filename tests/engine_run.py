"""A real engine cycle on a manual clock, warmed on the simulated market: for tests that need stored snapshots.

`warmed_engine` calls the jobs directly; `run_recorded_ticks` runs them as the engine loop does, each recorded
as a job run (a failing job fails the test)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from engine import jobs
from engine.backtest.presets import use_presets
from engine.clock import ManualClock
from engine.context import EngineContext
from engine.cycle import EngineCycle
from engine.params import default_params
from engine.params.versions import apply_version
from engine.runtime import build_context
from engine.settings import load_settings
from engine.store.installation import seed_installation_id


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


@contextmanager
def live_csv_run(url: str, csv_dir: Path, preset: Any, bars: int) -> Iterator[EngineContext]:
    """The engine's own jobs over a CSV folder as the scheduler drives them, one bar per market tick, with the
    backtests' paper costs (the live side of the backtest parity tests); yields the context after `bars` bars."""
    settings = load_settings(database_url=url, market_source="csv", csv_dir=csv_dir, csv_index_symbol="IDX",
                             broker="paper", paper_starting_cash=250_000.0, autotrade=True, warmup_polls=0,
                             paper_slippage_bps=2.0, paper_commission_per_share=0.005, paper_participation=0.25)
    clock = ManualClock()
    ctx = build_context(settings, with_source=True, migrate=True, clock=clock)
    try:
        seed_installation_id(ctx.store, "")  # the ids a backtest's private store gives (engine/backtest/private.py)
        jobs.ensure_instruments(ctx)
        apply_version(ctx.store, default_params(), "test", "cli", clock=clock)
        use_presets(ctx, preset, {}, [str(r.regime_name) for r in default_params().table("RegimeParameters")])
        cycle = EngineCycle()
        cycle.startup(ctx)
        for _ in range(bars):
            clock.advance(timedelta(seconds=1))
            cycle.market(ctx)
            cycle.account(ctx)
            cycle.risk(ctx)
            cycle.planner(ctx)
        yield ctx
    finally:
        ctx.store.dispose()
