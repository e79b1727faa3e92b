"""The tuning job (its own scheduler job, every TUNING_SECONDS): the live scorecard, drift, then auto-rollback, then a tuning run
when AdaptiveTuning adaptation_frequency hours have passed since the last one. Each step is recorded as
its own job run, so one failing step shows on the Health page without hiding the others.

A scheduled run tunes on the newest historical_lookback_days of the index's stored bars (and the
simulated market's true regimes when present), needs min_samples_required bars, and uses a seed derived
from the run's hour so the run is reproducible from the store. Its trials are regime replays of the index;
the best candidate is accepted only by backtests of every stored symbol over the same range with the
active planner preset (engine/tuning/backtest_validation.py: at most MAX_VERSION_BARS traded bars per
version, a few minutes at today's backtest speed). A run stops (BacktestCancelled, recorded as its outcome)
once this engine no longer surely leads: a shutdown releases the lease, and a standby must not tune
(`stopping`: the lease fence without a store round trip, the stored heartbeat every LEASE_CHECK_CALLS checks).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import select

from engine import jobs
from engine.backtest.inputs import BacktestCancelled, BacktestError
from engine.context import EngineContext
from engine.market.exchange import regular_session_bars
from engine.params.typed import Parameters
from engine.params.versions import active_params
from engine.store.keyvalue import get_value, put_value
from engine.store.models import BarRow, EngineHeartbeat, TrueRegimeRow, TuningProposal
from engine.tuning.drift_job import check_drift
from engine.tuning.live import store_scorecard
from engine.tuning.proposals import STALE, record
from engine.tuning.rollback import check_rollback
from engine.tuning.tuner import tune
from engine.tuning.version_check import stored_setup

log = logging.getLogger(__name__)
LAST_RUN_KEY = "tuning.last_run"  # {"ts", "outcome"}
TRIALS = 20  # optuna trials per scheduled run (each replays the in-sample history once)
LEASE_CHECK_CALLS = 20  # a trial or a backtest bar asks `stopping` once: the store is read every 20 asks
MAX_BARS = 20_000  # newest bars a scheduled run tunes on (like the ensemble's refit): bounds a run to minutes


def history(ctx: EngineContext, days: int) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The index's stored bars over the last `days` days, and the true regime path when the store has it."""
    assert ctx.source is not None
    since = ctx.clock.now() - timedelta(days=days)
    with ctx.store.read() as s:
        rows = s.execute(select(BarRow.ts, BarRow.open, BarRow.high, BarRow.low, BarRow.close, BarRow.volume)
                         .where(BarRow.symbol == ctx.source.index_symbol(), BarRow.ts >= since)
                         .order_by(BarRow.ts)).all()
        truth = pd.DataFrame([(r.ts, r.trend, r.volatility) for r in s.scalars(
            select(TrueRegimeRow).where(TrueRegimeRow.ts >= since))], columns=["timestamp", "trend", "volatility"])
    bars = pd.DataFrame(rows, columns=["timestamp", "open", "high", "low", "close", "volume"])
    bars = regular_session_bars(bars, getattr(ctx.source, "calendar", None)).iloc[-MAX_BARS:]  # as the live regime
    return bars.reset_index(drop=True), (truth if len(truth) else None)


def stopping(ctx: EngineContext) -> Callable[[], bool]:
    """True once this engine no longer surely leads or its heartbeat says it stopped (None fence: never)."""
    fence = ctx.fence
    if fence is None:  # a context built by hand (tests, tools): nothing stops it
        return lambda: False
    asked = [0]

    def check() -> bool:
        if not fence.surely_held():
            return True
        asked[0] += 1
        if asked[0] % LEASE_CHECK_CALLS:
            return False
        with ctx.store.read() as s:
            beat = s.get(EngineHeartbeat, ctx.engine_id)
            return beat is None or beat.status == "stopped"

    return check


def tune_if_due(ctx: EngineContext, *, trials: int = TRIALS) -> int | None:
    """A tuning run when enabled and due; the stored proposal's id, or None."""
    if ctx.source is None:
        return None
    now = ctx.clock.now()
    with ctx.store.read() as s:
        ps = active_params(s)
        last = get_value(s, LAST_RUN_KEY) or {}
    t = Parameters(ps).adaptive_tuning
    enabled, every_h = t.enable_adaptive_learning, t.adaptation_frequency
    days, min_samples = t.historical_lookback_days, t.min_samples_required
    if not enabled or Parameters(ps).adaptive_learning.parameter_adaptation != "BAYESIAN":
        return None
    if last.get("ts") and now - datetime.fromisoformat(last["ts"]) < timedelta(hours=every_h):
        return None
    bars, truth = history(ctx, days)
    with ctx.store.write() as s:
        if len(bars) < min_samples:
            put_value(s, LAST_RUN_KEY, {"ts": now.isoformat(), "outcome":
                                        f"skipped: {len(bars)} bars < min_samples_required {min_samples}"}, now)
            return None
    seed = int(now.timestamp() // 3600)
    symbol = ctx.source.index_symbol()
    try:
        setup = stored_setup(ctx.store, pd.Timestamp(bars["timestamp"].iloc[0]).to_pydatetime(), symbol)
    except BacktestError as exc:
        with ctx.store.write() as s:
            put_value(s, LAST_RUN_KEY, {"ts": now.isoformat(), "outcome": f"skipped: no backtest validation: {exc}"},
                      now)
        return None
    try:
        result = tune(ps, bars, truth, trials=trials, seed=seed, symbol=symbol, backtest=setup,
                      cancelled=stopping(ctx))
        pid = record(ctx.store, ps, result, seed, clock=ctx.clock)
    except BacktestCancelled as exc:
        _note(ctx, now, f"cancelled: {exc}")
        return None
    except Exception as exc:  # noted, then raised (the job run shows the error): see _note
        _note(ctx, now, f"failed: {type(exc).__name__}: {exc}")
        raise
    with ctx.store.read() as s:
        row = s.get(TuningProposal, pid)
        stale = row is not None and row.status == STALE
    _note(ctx, now, f"proposal {pid}: {result.reason}" + (
        f"; not applied: version {ps.version_id}, which it was tuned on, is no longer active" if stale else ""))
    return pid


def _note(ctx: EngineContext, now: datetime, outcome: str) -> None:
    """Store the run's outcome under LAST_RUN_KEY. Why for failures too: the next run is due adaptation_frequency
    hours after the noted one; an unnoted failure made the tuning job (every TUNING_SECONDS) redo the whole run
    (trials and fold backtests: minutes of CPU) every minute while the cause lasted."""
    with ctx.store.write() as s:
        put_value(s, LAST_RUN_KEY, {"ts": now.isoformat(), "outcome": outcome[:500]}, now)


def run_tuning_job(ctx: EngineContext) -> None:
    jobs.run_recorded(ctx, "scorecard", store_scorecard)
    jobs.run_recorded(ctx, "drift", check_drift)
    jobs.run_recorded(ctx, "auto_rollback", check_rollback)
    jobs.run_recorded(ctx, "adaptive_tuning", tune_if_due)
