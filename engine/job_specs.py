"""What the engine runs and how often: every scheduled job, its period and its function.

engine/scheduler.py (EngineService) schedules this list with APScheduler; only the engine holding the
lease runs the leader-only jobs. Alpaca's jobs run under a call budget so a slow broker cannot make a job
overrun its interval.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from engine import jobs
from engine.context import EngineContext
from engine.cycle import EngineCycle
from engine.settings import BrokerName, MarketSourceName
from engine.trading.brokers.alpaca_limits import call_budget

COMMAND_POLL_SECONDS = 0.25  # how soon the engine picks up a kill switch: click to all-cancelled well within 1 s


@dataclass(frozen=True)
class JobSpec:
    name: str
    seconds: float
    run: Callable[[EngineContext], object]
    leader_only: bool = True


def within(seconds: float, run: Callable[[EngineContext], object]) -> Callable[[EngineContext], object]:
    """Run a job under an Alpaca call budget of ``seconds``: every Alpaca request it makes ends by then.

    A slow broker makes the job abandon its calls (flagged as the job's error) and retry on the next
    tick, instead of overrunning its interval. Other brokers and sources ignore the budget.
    """
    def bounded(ctx: EngineContext) -> object:
        with call_budget(seconds, max_requests=200, label="job"):
            return run(ctx)

    return bounded


REGIME_MODELS_SECONDS = 300.0  # how often the ensemble refit job looks whether a refit is due (longer than a
# bounded fit, ~15-80 s, so a running refit does not show as skipped runs in the health checks)
TUNING_SECONDS = 60.0  # how often the tuning job checks drift, rollback and whether a tuning run is due


def tuning_job(ctx: EngineContext) -> None:
    """Drift detection, auto-rollback and scheduled tuning (issue 16). Not a step of EngineCycle: tuning
    validates by backtests, which run EngineCycle, so the cycle must not import the tuning job."""
    # local import: optuna, river and sklearn load only when the tuning job runs
    from engine.tuning.job import run_tuning_job

    run_tuning_job(ctx)


def job_specs(ctx: EngineContext, cycle: EngineCycle) -> list[JobSpec]:
    """Every scheduled job, its period and its function: the one list of what the engine does."""
    tick = ctx.settings.tick_seconds
    JobFn = Callable[[EngineContext], object]
    market: JobFn = cycle.market
    account: JobFn
    planner: JobFn
    reconcile: JobFn
    if ctx.settings.market_source is MarketSourceName.ALPACA:  # 1-minute bars: polling every second is wasted budget
        tick = max(tick, ctx.settings.alpaca_poll_seconds)
        market = within(tick * 0.9, cycle.market)
    sync_seconds, account = max(ctx.settings.tick_seconds, 2.0), cycle.account
    if ctx.settings.broker is BrokerName.ALPACA:  # Alpaca: 200 requests/min per key, shared with market data
        sync_seconds = ctx.settings.alpaca_sync_seconds
        account = within(sync_seconds * 0.9, cycle.account)
    planner_seconds, planner, reconcile = max(tick * 5, 5.0), cycle.planner, cycle.reconcile
    if ctx.settings.broker is BrokerName.ALPACA:  # a slow Alpaca abandons the job's calls; the next run retries
        planner, reconcile = within(planner_seconds * 0.9, cycle.planner), within(60.0 * 0.9, cycle.reconcile)
    return [
        JobSpec("market", tick, market),
        JobSpec("account", sync_seconds, account),
        JobSpec("planner", planner_seconds, planner),
        JobSpec("commands", COMMAND_POLL_SECONDS, cycle.commands),
        JobSpec("risk", max(ctx.settings.tick_seconds, 2.0), cycle.risk),
        JobSpec("reconcile", 60.0, reconcile),
        JobSpec("retention", 300.0, jobs.retention),
        JobSpec("regime_models", REGIME_MODELS_SECONDS, cycle.regime_models),  # ensemble refit, off the market job
        JobSpec("tuning", TUNING_SECONDS, tuning_job),  # drift, auto-rollback, scheduled tuning (engine/tuning)
    ]
