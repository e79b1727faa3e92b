"""The engine cycle, job by job: market -> regime -> planner -> trading; account sync; commands; risk.

`EngineCycle` holds the per-process state the stages keep between ticks (the live regime
classifier); the domain code lives in market/, regime/, planner/, trading/, params/.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import func, select

from engine import jobs
from engine.context import EngineContext
from engine.lease import check_fence
from engine.market.types import MarketUpdate
from engine.params.versions import active_params, ensure_default_version
from engine.planner import service as planner_service
from engine.regime_stage import RegimeStage
from engine.store.models import BarRow, OrderRow
from engine.trading import state as trading_state
from engine.trading.brokers.base import OrderSide
from engine.trading.risk import RiskLimits
from engine.trading.state import TradingState

log = logging.getLogger(__name__)

PLANNER_ACTOR = "system:planner"
OPEN_STATUSES = ("pending_new", "new", "partially_filled")


@dataclass
class EngineCycle:
    on_shutdown: Callable[[], None] | None = None
    regime: RegimeStage = field(default_factory=RegimeStage)
    leading: Callable[[], bool] = lambda: True  # asked before each order: False once this engine's lease may have lapsed
    unstored: MarketUpdate | None = None  # polled during a store outage, not stored yet

    def startup(self, ctx: EngineContext) -> None:
        """Once, when this engine becomes the active one: state row, parameter version, reconciliation."""
        from engine.trading.control import on_engine_start

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

    def planner(self, ctx: EngineContext) -> None:
        """Submit the active preset's plan through the gateway when auto-trading is on and state allows."""
        from engine.trading.gateway import OrderIntent, submit

        if not ctx.settings.autotrade:
            return
        accepts_orders_now = getattr(ctx.broker, "accepts_orders_now", None)  # Alpaca: its clock and session
        if accepts_orders_now is not None and not accepts_orders_now():
            return
        with ctx.store.read() as session:
            state = trading_state.current(session).state
            if state not in (TradingState.ACTIVE, TradingState.REDUCING):
                return
            knobs = planner_service.active_preset(session)
            params = active_params(session)
            trades = planner_service.plan_for_portfolio(session, knobs, params)
            busy = set(session.scalars(select(OrderRow.symbol).where(OrderRow.status.in_(OPEN_STATUSES))))
            cycle_ts = session.scalar(select(func.max(BarRow.ts)))
        limits = RiskLimits.from_params(params)
        for trade in trades:
            if not self.leading():  # frozen mid-plan (SIGSTOP, a stall) past the lease: another engine leads now
                log.warning("planner stopped before %s: this engine's lease may have lapsed", trade.symbol)
                return
            if trade.symbol in busy:
                continue
            reducing = abs(trade.target_qty) < abs(trade.current_qty) and trade.target_qty * trade.current_qty >= 0
            if state is TradingState.REDUCING and not reducing:
                continue
            intent = OrderIntent(
                symbol=trade.symbol, side=OrderSide.BUY if trade.order_qty > 0 else OrderSide.SELL,
                qty=Decimal(str(abs(trade.order_qty))), reason=f"{knobs.name}: {trade.reason}",
                idempotency_key=f"{knobs.name}:{cycle_ts.isoformat() if cycle_ts else 'none'}",
            )
            submit(ctx, intent, actor=PLANNER_ACTOR, origin="planner", limits=limits,
                   param_version_id=params.version_id)

    def account(self, ctx: EngineContext) -> None:
        from engine.trading.sync import sync_from_broker

        sync_from_broker(ctx)

    def commands(self, ctx: EngineContext) -> None:
        from engine.trading.control import process_pending_commands

        process_pending_commands(ctx, on_shutdown=self.on_shutdown)

    def risk(self, ctx: EngineContext) -> None:
        from engine.trading.auto_halts import evaluate

        evaluate(ctx)

    def reconcile(self, ctx: EngineContext) -> None:
        from engine.trading.reconcile import reconcile

        reconcile(ctx)
