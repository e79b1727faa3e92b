"""The engine's jobs. Each takes the EngineContext; `run_recorded` stores every run's outcome.

A job that raises is logged and recorded as an error; it runs again on its next tick and
never stops the scheduler.
"""
from __future__ import annotations

import logging
import math
import os
import socket
import time
import traceback
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from engine import warmup
from engine.context import EngineContext
from engine.health.deadman import market_cadence_s
from engine.lease import FencedOut, check_fence
from engine.market.types import Bar, MarketUpdate
from engine.store import pg_locks
from engine.store.db_clock import lease_now, lease_time
from engine.store.keyvalue import LEASE_TAKEN_KEY, MARKET_DATA_KEY
from engine.store.models import (
    BarRow,
    EngineHeartbeat,
    EngineLease,
    HealthResult,
    Instrument,
    JobRun,
    KeyValue,
    OptionChainSnapshot,
    TrueRegimeRow,
)
from engine.store.writes import insert_ignoring_duplicates, pack_chain, upsert_rows

log = logging.getLogger(__name__)

LEASE_SECONDS = 10.0  # renewed every 2 s (4 beats may fail before it lapses); takeover within it after a SIGKILL
LEASE_LOCK_WAIT_MS = 2_000  # PostgreSQL: longest wait for the lease row (a fenced write holds it for milliseconds)
JOB_RUN_RETENTION = timedelta(hours=6)
CHAIN_SNAPSHOTS_KEPT = 2_000
_MARKET_MARK = select(KeyValue).where(KeyValue.key == MARKET_DATA_KEY)  # built once: read every tick


def run_recorded(ctx: EngineContext, name: str, job: Callable[[EngineContext], object]) -> bool:
    """Run one job, store its duration and outcome; return False when it failed."""
    started = ctx.clock.now()
    t0 = time.perf_counter()
    outcome, error = "ok", None
    try:
        job(ctx)
    except Exception as exc:  # noqa: BLE001 - a job failure must never reach the scheduler
        outcome, error = "error", f"{type(exc).__name__}: {exc}"
        log.error("job %s failed: %s", name, error, extra={"job": name})
        log.debug("job %s traceback:\n%s", name, traceback.format_exc())
    duration_ms = (time.perf_counter() - t0) * 1000.0
    if not ctx.record_job_runs:  # a backtest: its private store has no health page to show job runs on
        return outcome == "ok"
    run = {"job": name, "engine_id": ctx.engine_id, "started_at": started, "duration_ms": duration_ms,
           "outcome": outcome, "error": error}
    outage = ctx.store_outage  # engine/health/outage.py, set by EngineService
    try:
        with ctx.store.write() as session:
            session.add(JobRun(**run))
    except Exception as exc:  # noqa: BLE001 - the store itself may be the failure; the log still has it
        if outage is None:
            log.exception("could not record the run of job %s", name)
        else:  # kept, and stored with the outage's length once the store is back; the outage starts when
            # the write failed, not when the job started (a job that began before the store went away)
            outage.failed(ctx.clock.now(), f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                          run)
        return outcome == "ok"
    if outage is not None and outage.active:
        try:
            outage.recovered(ctx)
        except Exception:  # noqa: BLE001 - down again; the next recorded run retries
            log.exception("could not record the store outage")
    return outcome == "ok"


class UnstoredMarketUpdate(Exception):
    """The store refused a poll's data; the caller keeps `update` and hands it to the next tick (nothing lost)."""

    def __init__(self, update: MarketUpdate, cause: BaseException) -> None:
        super().__init__(f"market data not stored ({type(cause).__name__}); {len(update.bars)} bar(s) kept for the next tick")
        self.update = update


CARRIED_BARS_KEPT = 200_000  # an outage longer than this many bars loses the oldest (logged)


def _merge_updates(older: MarketUpdate, newer: MarketUpdate) -> MarketUpdate:
    bars = older.bars + newer.bars
    if len(bars) > CARRIED_BARS_KEPT:
        log.warning("market data kept during a store outage: %d oldest bar(s) dropped", len(bars) - CARRIED_BARS_KEPT)
        bars = bars[-CARRIED_BARS_KEPT:]
    return MarketUpdate(bars=bars, chains=newer.chains or older.chains,
                        true_regimes=(older.true_regimes + newer.true_regimes)[-CARRIED_BARS_KEPT:],
                        stale_symbols=newer.stale_symbols)


def store_market_update(ctx: EngineContext, update: MarketUpdate, received_at: datetime | None = None,
                        also: Callable[[Session], None] | None = None) -> None:
    """Write a poll's bars, chains and true regimes in one transaction (and when data last arrived; `also`:
    more writes in the same transaction, the warm-up's progress).

    A bar whose close is not a positive finite number is dropped (logged): a close of 0 would pass every
    notional limit at nothing, and NaN, which PostgreSQL stores, would break every comparison with it."""
    bars: list[Bar] = []
    for b in update.bars:
        if math.isfinite(float(b.close)) and float(b.close) > 0:
            bars.append(b)
        else:
            log.warning("bar of %s at %s dropped: its close %r is not a positive price", b.symbol, b.ts.isoformat(), b.close)
    with ctx.store.write() as session:
        check_fence(session, ctx)  # fenced: a frozen old leader's tick stores no bars and matches no paper orders
        if also is not None:
            also(session)
        if received_at is not None and bars:  # with the source's cadence: the dead-man's switch judges by it
            source = getattr(ctx, "source", None)
            value = {"ts": received_at.isoformat(), "cadence_s": market_cadence_s(getattr(ctx, "settings", None), source)}
            if getattr(source, "wall_clock_bars", False):  # Alpaca: a lagging feed is as old as its bars (marks.py)
                value["bar_s"] = float(getattr(source, "bar_seconds", 60.0))
            mark = session.scalars(_MARKET_MARK).first()
            if mark is None:
                session.add(KeyValue(key=MARKET_DATA_KEY, value=value, updated_at=received_at))
            else:
                mark.value, mark.updated_at = value, received_at
        insert_ignoring_duplicates(session, BarRow.__table__, [
            {"symbol": b.symbol, "ts": b.ts, "open": b.open, "high": b.high, "low": b.low, "close": b.close,
             "volume": b.volume} for b in bars
        ])
        for chain in update.chains:
            if not math.isfinite(float(chain.spot)) or float(chain.spot) <= 0:  # never roll back the tick's bars
                log.warning("option chain of %s at %s skipped: its spot is unknown", chain.underlying, chain.ts)
                continue
            session.add(OptionChainSnapshot(underlying=chain.underlying, ts=chain.ts, spot=float(chain.spot),
                                            contracts=len(chain), data=pack_chain(chain)))
        insert_ignoring_duplicates(session, TrueRegimeRow.__table__, [
            {"ts": r.ts, "trend": r.trend, "volatility": r.volatility} for r in update.true_regimes
        ])


def ensure_instruments(ctx: EngineContext) -> None:
    source = ctx.source
    if source is None:
        return
    underlyings = set(getattr(source, "option_underlyings", lambda: [])())
    with ctx.store.write() as session:
        known = set(session.scalars(select(Instrument.symbol)))
        for symbol in source.symbols():
            if symbol not in known:
                kind = "index" if symbol == source.index_symbol() else "stock"
                session.add(Instrument(symbol=symbol, kind=kind, has_options=symbol in underlyings, source=source.name))


def resume_source(ctx: EngineContext, warmup_polls: int) -> None:
    """Continue the market after the last stored bar, or warm it up with history on a fresh store (in chunks:
    a warm-up cut short continues where it stopped, engine/warmup.py)."""
    source = ctx.source
    if source is None:
        return
    polls = min(warmup_polls, int(getattr(source, "warmup_polls", warmup_polls)))  # Alpaca: one poll of history
    with ctx.store.read() as session:
        last_ts = session.scalar(select(func.max(BarRow.ts)).where(BarRow.symbol == source.index_symbol()))
        done = warmup.polls_done(session, last_ts)
    source.resume_after(last_ts)
    warmed = warmup.warm_up(ctx, polls - done, done, polls, store_market_update) if polls > done else None
    if warmed is not None:
        log.info("warmed up the market with %d bars (%d polls)", warmed.bars, polls)
    market_clock = getattr(ctx, "market_clock", None)
    if market_clock is not None and warmed is not None:
        market_clock.advance(warmed.last_bars, ctx.store)
    elif market_clock is not None and last_ts is not None:  # the market resumes where the store's bars end
        market_clock.advance([Bar(source.index_symbol(), last_ts, 0.0, 0.0, 0.0, 0.0, 0.0)], ctx.store)


def market_tick(ctx: EngineContext, carry: MarketUpdate | None = None) -> MarketUpdate:
    """Fetch new bars/chains, store them, and let the paper broker match open orders against them.

    `carry`: what earlier ticks polled but could not store (the store was down), stored first now.
    """
    assert ctx.source is not None
    update = ctx.source.poll()
    if carry is not None:
        update = _merge_updates(carry, update)
    try:
        store_market_update(ctx, update, received_at=ctx.clock.now())
    except FencedOut:
        raise  # another engine leads: its own market job stores the market
    except Exception as exc:  # noqa: BLE001 - the store is down: keep the polled data for the next tick
        raise UnstoredMarketUpdate(update, exc) from exc
    process_bars = getattr(ctx.broker, "process_bars", None)
    if process_bars is not None and (update.bars or getattr(ctx.broker, "calendar", None) is not None):
        process_bars(update.bars)  # with an exchange calendar also without bars: DAY orders expire at the close
    market_clock = getattr(ctx, "market_clock", None)
    if market_clock is not None:  # after the fills are booked: their bars' times are never behind a sync's start
        market_clock.advance(update.bars, ctx.store)
    if update.stale_symbols:
        log.warning("stale market data for %s", ", ".join(update.stale_symbols))
    return update


def heartbeat(ctx: EngineContext, stopping: Callable[[], bool] = lambda: False) -> bool:
    """Beat, and take or renew the lease; return True when this engine is the active one."""
    return heartbeat_lease(ctx, stopping)[0]


def heartbeat_lease(ctx: EngineContext, stopping: Callable[[], bool] = lambda: False) -> tuple[bool, datetime | None]:
    """Beat, and take or renew the lease; return (is this engine the active one, when the lease lapses).

    On PostgreSQL a fenced write holds the lease row FOR SHARE for its few milliseconds; an engine frozen
    inside one (SIGSTOP) would hold it for ever and block every takeover. The beat therefore waits at most
    LEASE_LOCK_WAIT_MS for the row, and when the lease has lapsed meanwhile it terminates the sessions
    holding that lock (their transactions roll back: the frozen engine records nothing) and beats again.
    """
    try:
        return _heartbeat_lease_once(ctx, stopping)
    except DBAPIError as exc:
        if not pg_locks.is_lock_timeout(exc):
            raise
        with ctx.store.read() as session:
            lease = session.get(EngineLease, 1)
            lapsed = (lease is not None and lease.holder != ctx.engine_id
                      and lease.lease_until < lease_now(session, ctx.clock))
        if not lapsed:
            raise
        freed = pg_locks.terminate_row_lock_holders(ctx.store, EngineLease.__tablename__)
        holder = lease.holder if lease is not None else "?"
        log.warning("the lapsed lease of %s was locked by a frozen session; terminated %s", holder,
                    ", ".join(h.label for h in freed) or "none")
        return _heartbeat_lease_once(ctx, stopping)


def _heartbeat_lease_once(ctx: EngineContext, stopping: Callable[[], bool]) -> tuple[bool, datetime | None]:
    """One beat in one transaction (see heartbeat_lease).

    `stopping` is asked inside the lease transaction: a beat that runs after its engine began to stop
    (and perhaps after release_lease, which such a beat would otherwise undo) never takes the lease.
    A standby uses the returned lapse time to beat again right then (engine/scheduler.py), so takeover
    after a SIGKILL of the leader takes at most LEASE_SECONDS, not LEASE_SECONDS plus a poll period.

    Expiry and the beat are in the database's time (engine/store/db_clock.py), read once the row is locked, so
    no machine's skew decides a takeover; the returned lapse time is shifted into ctx.clock's time, which the
    scheduler sleeps by.
    """
    t0 = time.monotonic()
    with ctx.store.write() as session:
        pg_locks.set_lock_timeout(session, LEASE_LOCK_WAIT_MS)
        lease = session.get(EngineLease, 1, with_for_update=ctx.store.dialect == "postgresql")
        if stopping():
            return False, None
        now, ahead = lease_time(session, ctx.clock)
        if lease is None:
            lease = EngineLease(id=1, holder=ctx.engine_id, lease_until=now, epoch=1)
            session.add(lease)
        is_leader = lease.holder == ctx.engine_id or lease.lease_until < now
        if is_leader:
            if lease.holder != ctx.engine_id or lease.lease_until < now:
                lease.epoch = (lease.epoch or 0) + 1  # a takeover (or a lapsed lease taken back): the old epoch is fenced out
            if lease.holder != ctx.engine_id or session.get(KeyValue, LEASE_TAKEN_KEY) is None:
                upsert_rows(session, KeyValue.__table__, [{
                    "key": LEASE_TAKEN_KEY, "updated_at": now,
                    "value": {"holder": ctx.engine_id, "at": now.isoformat(), "from": lease.holder}}], key=["key"])
            lease.holder, lease.lease_until = ctx.engine_id, now + timedelta(seconds=LEASE_SECONDS)
        lease_until = lease.lease_until
        beat = session.get(EngineHeartbeat, ctx.engine_id)
        if beat is None:
            beat = EngineHeartbeat(engine_id=ctx.engine_id, host=socket.gethostname(), pid=os.getpid(),
                                   started_at=now, last_beat=now, status="active")
            session.add(beat)
        beat.last_beat, beat.status = now, "active" if is_leader else "standby"
        epoch = lease.epoch
    fence = getattr(ctx, "fence", None)
    if fence is not None:  # after the commit: the epoch this engine's writes are checked against
        if is_leader:
            fence.grant(epoch, t0 + LEASE_SECONDS - 0.5)
        else:
            fence.revoke()
        fence.skew.note(ctx.engine_id, ahead)
    return is_leader, lease_until + ahead


def release_lease(ctx: EngineContext) -> None:
    with ctx.store.write() as session:
        now = lease_now(session, ctx.clock)  # the lapse other engines and the web judge by
        lease = session.get(EngineLease, 1)
        if lease is not None and lease.holder == ctx.engine_id:
            lease.lease_until = now
        beat = session.get(EngineHeartbeat, ctx.engine_id)
        if beat is not None:
            beat.status, beat.last_beat = "stopped", now


def retention(ctx: EngineContext) -> None:
    """Keep the store bounded: old job runs and option chain snapshots beyond the newest N."""
    now = ctx.clock.now()
    with ctx.store.write() as session:
        session.execute(delete(JobRun).where(JobRun.started_at < now - JOB_RUN_RETENTION))
        session.execute(delete(HealthResult).where(HealthResult.ts < now - JOB_RUN_RETENTION))
        cutoff = session.scalar(
            select(OptionChainSnapshot.id).order_by(OptionChainSnapshot.id.desc()).offset(CHAIN_SNAPSHOTS_KEPT).limit(1)
        )
        if cutoff is not None:
            session.execute(delete(OptionChainSnapshot).where(OptionChainSnapshot.id <= cutoff))
