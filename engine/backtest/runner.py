"""Run a backtest: the live engine's own jobs, bar by bar, on a simulated clock over a private store.

Per bar, in the order the live engine runs them: market (store the bar, the paper broker fills the
orders sent on earlier bars at this bar's open, the regime stage classifies it), account sync, risk
triggers, planner (its orders go through the order gateway's checks to the paper broker and fill on a
LATER bar), and, every REFIT_CHECK_SECONDS of the simulated clock as the live scheduler runs it, the regime
ensemble's refit job (its model is in force from the next bar's regime stage on, as live). No job ever sees a bar
after the clock: the source hands bars out one timestamp at a time.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
from sqlalchemy import desc, select

from engine import jobs
from engine.analytics.periods import days_per_year, session_minutes
from engine.backtest.history import RunBars
from engine.backtest.inputs import BacktestCancelled, BacktestSpec
from engine.backtest.presets import use_presets
from engine.backtest.private import PrivateStore, SimClock, backtest_settings, private_context
from engine.backtest.source import FrameReplaySource
from engine.context import EngineContext
from engine.cycle import EngineCycle
from engine.market.types import MarketUpdate
from engine.params.typed import Parameters
from engine.params.versions import apply_version
from engine.regime.ensemble.job import REFIT_CHECK_SECONDS, fit_model, refit_if_due
from engine.regime_stage import RegimeStage
from engine.runtime_guards import RuntimeGuards
from engine.store.current_regime import effective_names
from engine.store.models import AccountSnapshot, FillRow, OrderRow

log = logging.getLogger(__name__)
ACTOR = "system:backtest"
Progress = Callable[[int, int], None]

EQUITY_COLUMNS = ["timestamp", "equity", "cash", "gross_exposure", "regime_name"]
ORDER_COLUMNS = ["ts", "client_order_id", "symbol", "side", "qty", "order_type", "status", "filled_qty",
                 "filled_avg_price", "reject_reason", "updated_at"]
FILL_COLUMNS = ["ts", "client_order_id", "symbol", "side", "qty", "price", "commission"]


@dataclass(frozen=True)
class BacktestResult:
    equity: pd.DataFrame  # EQUITY_COLUMNS, one row per index bar in the range
    orders: pd.DataFrame  # ORDER_COLUMNS
    fills: pd.DataFrame  # FILL_COLUMNS
    index_close: pd.Series  # the index's closes on the equity timestamps (buy-and-hold reference)
    prices: pd.DataFrame  # timestamp, then each symbol's close, over the run's bars (charts of reopened runs)
    bar_seconds: float
    bars: int
    session_minutes: float | None = None  # the market's session, read from the whole data set (not the range)
    days_per_year: float | None = None  # the market's trading days a year, read from the whole index (365: every day)
    notes: tuple[str, ...] = ()  # what the user must know about the run, e.g. it stopped at the index's last bar


SCRATCH_KEEP_S = 24 * 3600.0
MEMORY_STORE_BARS = 300_000  # symbol-bars up to which the private store lives in memory (beyond: a file in the scratch dir)


def scratch_dir() -> Path:
    """Where private stores live; ones left by a killed job (a cancelled web run) are removed after a day
    without a write."""
    root = Path(tempfile.gettempdir()) / "regimedesk-backtests"
    root.mkdir(exist_ok=True)
    now = time.time()
    for old in root.glob("backtest-*"):
        try:
            newest = max((p.stat().st_mtime for p in old.iterdir()), default=old.stat().st_mtime)
        except OSError:  # another run is removing it right now
            continue
        if now - newest > SCRATCH_KEEP_S:
            shutil.rmtree(old, ignore_errors=True)
    return root


def bar_interval(frame: pd.DataFrame) -> timedelta:
    """The index's typical bar length (the median gap), so the clock can stand at each bar's end."""
    gaps = frame["timestamp"].diff().dropna()
    if gaps.empty:
        return timedelta(days=1)
    return pd.Timedelta(gaps.median()).to_pytimedelta()


def _in_range(spec: BacktestSpec) -> tuple[dict[str, pd.DataFrame], str | None]:
    """The frames up to the run's end: `spec.end`, and never past the index's last bar (a bar after it cannot be
    classified and no equity row is written for it, so trading on would count fills the curve never shows).
    The second value says where the run was cut short that way, else None."""
    index = spec.frames[spec.index_symbol]["timestamp"]
    last = index.iloc[-1] if len(index) else None
    end = spec.end if last is None else min(pd.Timestamp(spec.end), last) if spec.end is not None else last
    out, beyond = {}, []
    for sym, f in spec.frames.items():
        keep = f["timestamp"] <= end if end is not None else pd.Series(True, index=f.index)
        out[sym] = f.loc[keep].reset_index(drop=True)
        wanted = f["timestamp"] <= spec.end if spec.end is not None else pd.Series(True, index=f.index)
        if (wanted & ~keep).any():
            beyond.append((sym, f.loc[wanted, "timestamp"].iloc[-1]))
    note = None
    if beyond and last is not None:
        goes_on = max(ts for _, ts in beyond)
        note = (f"the index {spec.index_symbol} ends at {last:%Y-%m-%d %H:%M} UTC; the run stops there (the bars of "
                f"{', '.join(sorted(s for s, _ in beyond))} after it, up to {goes_on:%Y-%m-%d %H:%M} UTC, are not "
                "traded: their regime cannot be classified)")
    return {s: f for s, f in out.items() if len(f)}, note


def _prepare(ctx: EngineContext, spec: BacktestSpec, source: FrameReplaySource) -> EngineCycle:
    """Instruments, the run's parameter version and preset, the trading state, and the warm-up history."""
    jobs.ensure_instruments(ctx)
    apply_version(ctx.store, spec.params, ACTOR, "cli", spec.params_label or "backtest parameters", clock=ctx.clock)
    regimes = [str(r.regime_name) for r in Parameters(spec.params).regime_parameters.rows]
    use_presets(ctx, spec.preset, spec.regime_presets, regimes)
    if spec.start is not None:  # bars before the start only warm the indicators up, as stored history does live
        warm = MarketUpdate()
        while (ts := source.next_ts()) is not None and ts < spec.start:
            warm.bars.extend(source.poll().bars)
        if warm.bars:
            jobs.store_market_update(ctx, warm)
    # the latency and memory guards (ValidationRules VAL010/VAL011) act on wall-clock time and this process's memory:
    # off here, so a backtest's trades never depend on how busy the machine was (same inputs, same output files)
    cycle = EngineCycle(regime=RegimeStage(guards=RuntimeGuards(enabled=False)))
    cycle.startup(ctx)
    return cycle


def run_backtest(spec: BacktestSpec, progress: Progress | None = None, cancelled: Callable[[], bool] | None = None,
                 workdir: Path | None = None, *, shortcuts: bool = True) -> BacktestResult:
    """Replay `spec` through the engine's jobs; `progress(done, total)` now and then, `cancelled()` every bar.

    `shortcuts`: skip what live trading needs and a backtest does not, through the same functions (an
    in-memory store, the planner's and risk cycle's bars read from memory, no job-run rows, no one-send claim per
    portfolio: nobody else sends on the private store). False runs
    every read and write through a file store as the live engine does: the reference the tests and
    bench/bench_backtest.py compare with (same outputs, slower)."""
    with tempfile.TemporaryDirectory(prefix="backtest-", dir=workdir or scratch_dir()) as tmp:
        folder = Path(tmp)
        frames, cut = _in_range(spec)
        vol = spec.vol_index
        source = FrameReplaySource(frames, spec.index_symbol, vol.points if vol else None, vol.symbol if vol else None)
        settings = backtest_settings(folder, spec.cash, spec.slippage_bps, spec.commission_per_share,
                                     spec.participation)
        in_memory = shortcuts and sum(len(f) for f in frames.values()) <= MEMORY_STORE_BARS
        ctx, clock = private_context(folder, source, settings, in_memory=in_memory, record_job_runs=not shortcuts,
                                     other_senders=not shortcuts)
        if shortcuts:
            run_bars = RunBars(frames, source)
            ctx.bars = run_bars  # the planner and the risk cycle read the run's bars from memory
            if isinstance(ctx.store, PrivateStore):
                ctx.store.share_bars(run_bars)  # and so do the marks (trading.marks.latest_closes), everywhere
        try:
            step = bar_interval(frames[spec.index_symbol])
            clock.set(source.next_ts() or clock.now())
            cycle = _prepare(ctx, spec, source)
            total = len(source) - source.position
            rows = _loop(ctx, clock, cycle, source, step, total, progress, cancelled)
            return _collect(ctx, spec, rows, step, total, cut)
        finally:
            ctx.store.dispose()


class RefitSchedule:
    """When the live scheduler would run the ensemble's refit job: every REFIT_CHECK_SECONDS after the engine
    starts (an interval job's first run is one period after its start), runs missed in between coalesced into one
    (the scheduler's coalesce=True), here on the simulated clock: the same cadence in market time."""

    def __init__(self, seconds: float = REFIT_CHECK_SECONDS) -> None:
        self.period = timedelta(seconds=seconds)
        self.next: datetime | None = None

    def due(self, now: datetime) -> bool:
        if self.next is None:  # the engine receives its first bar now
            self.next = now + self.period
            return False
        if now < self.next:
            return False
        while self.next <= now:
            self.next += self.period
        return True


_LATEST_SNAPSHOT = select(AccountSnapshot).order_by(desc(AccountSnapshot.id)).limit(1)  # built once: read every bar


def _loop(ctx: EngineContext, clock: SimClock, cycle: EngineCycle, source: FrameReplaySource, step: timedelta,
          total: int, progress: Progress | None, cancelled: Callable[[], bool] | None) -> list[tuple]:
    """The bar loop; returns (bar ts, cash, equity, gross) after each index bar."""
    rows: list[tuple] = []
    every = max(1, total // 200)
    index = source.index_symbol()
    done = 0
    refit = RefitSchedule()
    while (ts := source.next_ts()) is not None:
        if cancelled is not None and cancelled():
            raise BacktestCancelled(f"backtest cancelled after {done} of {total} bars")
        clock.set(ts + step)  # the bar has closed: the live engine receives it now
        has_index = _has_symbol(source, index)
        cycle.market(ctx)
        cycle.account(ctx)
        cycle.risk(ctx)
        cycle.planner(ctx)
        if refit.due(clock.now()):  # the live refit job, on the stored bars up to this one (it leaves this one out)
            refit_if_due(ctx, fit=fit_model)
        if has_index:
            with ctx.store.read() as s:
                snap = s.scalars(_LATEST_SNAPSHOT).one()
            rows.append((ts, float(snap.cash), float(snap.equity), float(snap.gross_exposure)))
        done += 1
        if progress is not None and (done % every == 0 or done == total):
            progress(done, total)
    return rows


def _has_symbol(source: FrameReplaySource, symbol: str) -> bool:
    return source.has_bar(symbol)


def _collect(ctx: EngineContext, spec: BacktestSpec, rows: list[tuple], step: timedelta, total: int,
             cut: str | None = None) -> BacktestResult:
    with ctx.store.read() as s:
        regimes = effective_names(s, spec.index_symbol)  # the regime the engine acted on, bar by bar
        orders = s.execute(select(OrderRow.created_at, OrderRow.client_order_id, OrderRow.symbol, OrderRow.side,
                                  OrderRow.qty, OrderRow.order_type, OrderRow.status, OrderRow.filled_qty,
                                  OrderRow.filled_avg_price, OrderRow.reject_reason, OrderRow.updated_at)
                           .order_by(OrderRow.created_at, OrderRow.client_order_id)).all()
        fills = s.execute(select(FillRow.ts, FillRow.client_order_id, FillRow.symbol, FillRow.side, FillRow.qty,
                                 FillRow.price, FillRow.commission)
                          .order_by(FillRow.ts, FillRow.client_order_id, FillRow.qty)).all()
    equity = pd.DataFrame(rows, columns=["timestamp", "cash", "equity", "gross_exposure"])
    equity["timestamp"] = pd.to_datetime(equity["timestamp"], utc=True)
    names = dict(regimes)
    equity["regime_name"] = [names.get(ts.to_pydatetime()) for ts in equity["timestamp"]]
    equity = equity[EQUITY_COLUMNS]
    index = spec.frames[spec.index_symbol].set_index("timestamp")["close"]
    wide = pd.concat({sym: f.set_index("timestamp")["close"] for sym, f in sorted(spec.frames.items())}, axis=1)
    first = equity["timestamp"].iloc[0] if len(equity) else None
    wide = wide[(wide.index >= first) & (wide.index <= equity["timestamp"].iloc[-1])] if first is not None else wide
    return BacktestResult(
        equity=equity,
        orders=pd.DataFrame(orders, columns=ORDER_COLUMNS),
        fills=pd.DataFrame(fills, columns=FILL_COLUMNS),
        index_close=index.reindex(equity["timestamp"]).reset_index(drop=True),
        prices=wide.rename_axis("timestamp").reset_index(),
        bar_seconds=step.total_seconds(),
        bars=total,
        session_minutes=session_minutes(pd.DatetimeIndex(spec.frames[spec.index_symbol]["timestamp"])),
        days_per_year=days_per_year(pd.DatetimeIndex(spec.frames[spec.index_symbol]["timestamp"])),
        notes=(cut,) if cut else (),
    )


def first_trade_time(result: BacktestResult) -> datetime | None:
    return None if result.fills.empty else result.fills["ts"].iloc[0]
