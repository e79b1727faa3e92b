"""The engine cycle, job by job: market -> regime -> planner -> trading; account sync; commands; risk.

`EngineCycle` holds the per-process state the stages keep between ticks (the live regime
classifier); the domain code lives in market/, regime/, planner/, trading/, params/.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from engine import jobs
from engine.context import EngineContext
from engine.execution.tick import on_market_tick
from engine.lease import check_fence
from engine.market.types import MarketUpdate
from engine.params.versions import ensure_default_version
from engine.planner.job import run_planner_job
from engine.portfolio_risk import job as portfolio_risk
from engine.regime.ensemble.job import refit_if_due
from engine.regime_stage import RegimeStage
from engine.trading import state as trading_state
from engine.trading.auto_halts import evaluate
from engine.trading.command_runner import on_engine_start, process_pending_commands
from engine.trading.reconcile import reconcile
from engine.trading.sync import sync_from_broker

log = logging.getLogger(__name__)

PLANNER_ACTOR = "system:planner"


@dataclass
class EngineCycle:
    on_shutdown: Callable[[], None] | None = None
    regime: RegimeStage = field(default_factory=RegimeStage)
    leading: Callable[[], bool] = lambda: True  # asked before each order: False once this engine's lease may have lapsed
    unstored: MarketUpdate | None = None  # polled during a store outage, not stored yet

    def startup(self, ctx: EngineContext) -> None:
        """Once, when this engine becomes the active one: state row, parameter version, reconciliation."""
        with ctx.store.write() as session:
            check_fence(session, ctx)  # fenced: an engine writes only under the lease it holds (engine/lease.py)
            trading_state.ensure_state(session, ctx.clock.now())
        on_engine_start(ctx)  # an interrupted shutdown becomes STOPPED; any other saved state is kept
        ensure_default_version(ctx.store, clock=ctx.clock)
        jobs.run_recorded(ctx, "reconcile", self.reconcile)

    def market(self, ctx: EngineContext) -> None:
        try:
            update = jobs.market_tick(ctx, carry=self.unstored)
        except jobs.UnstoredMarketUpdate as exc:  # the store is down: the next tick stores these bars first
            self.unstored = exc.update
            raise
        self.unstored = None
        self.regime.run(ctx, update)
        # protective stops and sliced parents, every tick
        jobs.run_recorded(ctx, "execution", lambda c: on_market_tick(c, update.bars))

    def regime_models(self, ctx: EngineContext) -> None:
        """Refit the regime ensemble when due (its own job: the live cycle only loads the stored models)."""
        refit_if_due(ctx)

    def planner(self, ctx: EngineContext) -> None:
        """Plan under the regime's preset, store the plan, send it when auto-trading is on and state is ACTIVE."""
        run_planner_job(ctx, leading=self.leading)

    def account(self, ctx: EngineContext) -> None:
        sync_from_broker(ctx)

    def commands(self, ctx: EngineContext) -> None:
        process_pending_commands(ctx, on_shutdown=self.on_shutdown)

    def risk(self, ctx: EngineContext) -> None:
        evaluate(ctx)
        portfolio_risk.run(ctx)  # VaR/CVaR, stress, portfolio limits (after the account triggers)

    def reconcile(self, ctx: EngineContext) -> None:
        reconcile(ctx)
