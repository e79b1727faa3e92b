"""Consumption honesty: run the whole engine on representative data with instrumented parameters.

Every parameter the schema marks as used must be read by some engine job; one marked
"not used by this engine" must not be. The jobs run in this thread so the read recorder sees them.
"""
from __future__ import annotations

from decimal import Decimal

import pandas as pd
from sqlalchemy import select

from engine import jobs
from engine.clock import ManualClock
from engine.cycle import EngineCycle
from engine.job_specs import tuning_job
from engine.params import load_schema, track_reads
from engine.params.versions import active_params
from engine.planner.job import run_planner_job
from engine.regime.cli import format_frame
from engine.regime.quality import score
from engine.regime.replay import replay
from engine.runtime import build_context
from engine.settings import load_settings
from engine.store import queries
from engine.store.models import TrueRegimeRow
from engine.trading.brokers.base import OrderSide
from engine.trading.control import graceful_shutdown, perform
from engine.trading.gateway import OrderIntent, submit
from engine.tuning import proposals
from engine.tuning.tuner import tune


def test_every_used_parameter_is_read_by_the_running_engine(any_db_url: str) -> None:
    settings = load_settings(database_url=any_db_url, warmup_polls=900)
    ctx = build_context(settings, with_source=True, migrate=True, clock=ManualClock())
    cycle = EngineCycle()
    with track_reads() as reads:
        jobs.heartbeat(ctx)
        jobs.ensure_instruments(ctx)
        jobs.resume_source(ctx, settings.warmup_polls)
        cycle.startup(ctx)
        for tick in range(40):
            ctx.clock.advance(1.0)
            cycle.market(ctx)
            if tick % 5 == 0:
                cycle.account(ctx)
                cycle.planner(ctx)
                cycle.risk(ctx)
            if tick == 10:  # the regime ensemble's refit job (EnsembleMethods, AdaptiveLearning update_frequency)
                cycle.regime_models(ctx)
            if tick == 20:  # the tuning job: scorecard (PerformanceMetrics), drift, auto-rollback, schedule (issue 16)
                tuning_job(ctx)
        submit(ctx, OrderIntent("ALFA", OrderSide.BUY, Decimal(1), reason="consumption test",
                                idempotency_key="consumption-1"), actor="test", origin="manual")
        run_planner_job(ctx)  # the modular planner after the manual order (TradingRisk sizing, the regime's bias)
        cycle.reconcile(ctx)
        with ctx.store.read() as session:  # the research CLI's path: replay the stored history to OutputFormat rows
            history = queries.bars(session, ctx.source.index_symbol(), 600)
            params = active_params(session)
            truth = pd.DataFrame([(r.ts, r.trend, r.volatility) for r in session.scalars(select(TrueRegimeRow))],
                                 columns=["timestamp", "trend", "volatility"])
        records = replay(history, params)
        format_frame(records, params)
        score(records, truth, params)  # the quality report against the simulated market's true regimes
        # a tuning run on the stored history, recorded as a proposal (the tuning job's path once enough bars exist)
        result = tune(params, history, truth.rename(columns={"timestamp": "ts"}), trials=2, seed=1,
                      symbol=ctx.source.index_symbol())
        proposals.record(ctx.store, params, result, seed=1, clock=ctx.clock)
        jobs.heartbeat(ctx)  # a live engine: a pause needs one (issue 9)
        perform(ctx, "test", "pause", reason="consumption test")
        graceful_shutdown(ctx, actor="test")
    unread = sorted({f"{sheet}.{field} ({consumer})" for sheet, _section, field, consumer in reads.unread_used()})
    assert unread == [], f"{len(unread)} parameters marked used were never read:\n" + "\n".join(unread)
    unused = {(sheet.name, section.key, f.name) for sheet, section, f in load_schema().iter_fields() if not f.used}
    read_unused = sorted({f"{s}.{sec}.{f}" for s, sec, _row, f in reads.reads if (s, sec, f) in unused})
    assert read_unused == [], f"parameters marked 'not used by this engine' were read: {read_unused}"
