"""The engine's APScheduler: the same jobs embedded (BackgroundScheduler) or standalone (Blocking).

Only the engine holding the lease runs the trading jobs; a second engine stays a standby and
takes over when the lease lapses (see jobs.heartbeat).
"""
from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from engine import jobs, warmup
from engine.context import EngineContext
from engine.cycle import EngineCycle
from engine.health.outage import StoreOutage
from engine.health.recorder import HEALTH_JOB_SECONDS, STOP_WATCH, HealthRecorder
from engine.job_specs import JobSpec, job_specs
from engine.lease import LeaseFence
from engine.lease_keeper import LeaseKeeper
from engine.regime.numba_init import initialise_numba
from engine.trading.control import graceful_shutdown

log = logging.getLogger(__name__)
class EngineService:
    """Owns the scheduler and the leadership flag of one engine process."""

    def __init__(self, ctx: EngineContext, blocking: bool, extra_jobs: list[JobSpec] | None = None) -> None:
        self.ctx = ctx
        self.blocking = blocking
        self.warmup_polls = ctx.settings.warmup_polls
        self.extra_jobs = list(extra_jobs or [])
        self.cycle = EngineCycle(on_shutdown=self.request_stop, leading=self.leading)
        self.is_leader = False
        self._started = False
        self._shut_down = False
        self._stop_requested = threading.Event()
        self.scheduler = BlockingScheduler(timezone="UTC") if blocking else BackgroundScheduler(timezone="UTC")
        self._beat_lock = threading.Lock()
        self._lease_valid_until = 0.0  # time.monotonic() until which this engine's lease surely holds
        self.trade_updates: tuple[Any, Any] | None = None  # (AlpacaTradeUpdates, TradeUpdatesApplier) with Alpaca
        # True while a beat that may win the lease runs the start-up steps: the market job polling the source
        # while "market history" resumes it corrupted the simulated market after a takeover (CI logs:
        # "could not broadcast ..."), and no plan may run before "trading state" reconciled with the broker
        self._starting = False
        self._startup_pending: list[str] = []  # start-up steps that failed, retried on each beat
        self._startup_steps: dict[str, Callable[[EngineContext], object]] = {}
        self.health = HealthRecorder(ctx)  # the health job and the skipped-run listener (engine/health/recorder.py)
        ctx.fence = LeaseFence(ctx.engine_id, on_lost=self._step_down)  # every trading write checks the lease epoch
        ctx.store_outage = StoreOutage()  # job runs kept while the store is down

    def _step_down(self) -> None:
        """A fenced write found the lease gone: run no trading job until a beat says this engine leads again."""
        self.is_leader, self._lease_valid_until = False, 0.0

    def leading(self) -> bool:
        """This engine leads and its lease surely still holds (renewed less than a lease period ago)."""
        return self.is_leader and time.monotonic() < self._lease_valid_until

    def _beat(self) -> None:
        if not self._beat_lock.acquire(blocking=False):  # the regular beat and a lease-lapse beat never overlap
            return
        was_leader = self.is_leader
        if not was_leader:  # from winning the lease until start-up ends, no leader-only job may start
            self._starting = True
        try:
            t0 = time.monotonic()
            leader, lease_until = jobs.heartbeat_lease(self.ctx, stopping=self._stop_requested.is_set)
            if self._stop_requested.is_set() and not leader and lease_until is None:
                # the stop began before this beat could renew: it did nothing, and leadership stays what it was,
                # or shutdown() would skip the graceful shutdown (CI: a SIGTERM during a beat left the order
                # open at the broker and the store behind it)
                return
            self.is_leader = leader
            # self-fencing: leader-only jobs stop when this engine's lease may have lapsed without a renewal
            self._lease_valid_until = t0 + jobs.LEASE_SECONDS - 0.5 if self.is_leader else 0.0
            if self.is_leader and not was_leader:
                log.info("engine %s is the active engine", self.ctx.engine_id)
                self.health.scheduled_since = self.ctx.clock.now()
                with self._keep_lease():  # a start-up may outlast the lease (a long warm-up, a slow broker)
                    jobs.run_recorded(self.ctx, "startup", self._on_become_leader)
                # first tick now, first plan right after it (on the new bars: the dead leader's last plan
                # had the same idempotency key), not one planner period later
                self._run_soon("market", delay_s=0.0)
                self._run_soon("planner", delay_s=min(5.0, self.ctx.settings.tick_seconds + 0.5))
                self._start_trade_updates()  # the broker stream is the leader's alone: a standby opens none
            elif self.is_leader and self._startup_pending:
                with self._keep_lease():
                    jobs.run_recorded(self.ctx, "startup", self._retry_startup)
            elif not self.is_leader and lease_until is not None:
                self._beat_at_lapse(lease_until)
            if not self.is_leader:
                self._stop_trade_updates()  # stepped down (or a fenced write said so since the last beat)
        finally:
            if not was_leader:
                self._starting = False
            self._beat_lock.release()

    def _keep_lease(self) -> LeaseKeeper:
        """Renew the lease just won while the start-up runs in this beat (engine/lease_keeper.py)."""
        fence = self.ctx.fence
        return LeaseKeeper(self.ctx, fence.epoch if fence is not None and self.is_leader else None, self._renewed)

    def _renewed(self, valid_until: float) -> None:
        if self.is_leader:
            self._lease_valid_until = max(self._lease_valid_until, valid_until)

    def _startup_interrupted(self) -> str | None:
        """Why a start-up step must stop now (asked between warm-up polls), or None."""
        if self._stop_requested.is_set():
            return "the engine is stopping"
        fence = self.ctx.fence
        return "this engine lost the lease" if fence is not None and fence.epoch is None else None

    def _run_step(self, ctx: EngineContext, name: str) -> bool:
        why = self._startup_interrupted()
        if why:  # not run: retried on the next beat that leads (a stopping engine has none)
            log.warning("start-up step %s not run: %s", name, why)
            return False
        with warmup.interruptible(self._startup_interrupted):
            return jobs.run_recorded(ctx, f"startup: {name}", self._startup_steps[name])

    def _beat_at_lapse(self, lease_until: datetime) -> None:
        """A standby beats again the moment the leader's lease lapses (not up to one heartbeat period later)."""
        delay = (lease_until - self.ctx.clock.now()).total_seconds() + 0.05
        if not self._started or not self.scheduler.running or not 0 < delay <= jobs.LEASE_SECONDS + 1:
            return
        self.scheduler.add_job(lambda: jobs.run_recorded(self.ctx, "heartbeat", lambda _c: self._beat()), "date",
                               run_date=datetime.now(UTC) + timedelta(seconds=delay), id="lease-lapse",
                               replace_existing=True, misfire_grace_time=5)

    def _run_soon(self, job_id: str, delay_s: float) -> None:
        if not self._started or not self.scheduler.running:
            return  # start-up: the jobs are added after this first beat
        with contextlib.suppress(JobLookupError):
            self.scheduler.modify_job(job_id, next_run_time=datetime.now(UTC) + timedelta(seconds=delay_s))

    def _on_become_leader(self, ctx: EngineContext) -> None:
        """Each start-up step on its own: one that fails is retried on the next beats, the others still run."""
        self._startup_steps = {
            "instruments": jobs.ensure_instruments,
            "market history": lambda c: jobs.resume_source(c, self.warmup_polls),
            "trading state": self.cycle.startup,
        }
        self._startup_pending = [name for name in self._startup_steps if not self._run_step(ctx, name)]
        if self._startup_pending:
            raise RuntimeError(f"start-up step(s) failed and are retried every beat: {', '.join(self._startup_pending)}")

    def _retry_startup(self, ctx: EngineContext) -> None:
        self._startup_pending = [name for name in self._startup_pending if not self._run_step(ctx, name)]
        if self._startup_pending:
            raise RuntimeError(f"start-up step(s) still failing: {', '.join(self._startup_pending)}")

    def _wrap(self, spec: JobSpec) -> Callable[[], None]:
        def run() -> None:
            if self._stop_requested.is_set() or (spec.leader_only and (self._starting or not self.leading())):
                return
            jobs.run_recorded(self.ctx, spec.name, spec.run)

        return run

    def add_jobs(self) -> None:
        self.scheduler.add_job(lambda: jobs.run_recorded(self.ctx, "heartbeat", lambda _c: self._beat()),
                               "interval", seconds=2.0, id="heartbeat", max_instances=1, coalesce=True,
                               misfire_grace_time=5)
        specs = [*job_specs(self.ctx, self.cycle), *self.extra_jobs, JobSpec("health", HEALTH_JOB_SECONDS, self.health.run)]
        self.health.intervals = {"heartbeat": 2.0, **{spec.name: spec.seconds for spec in specs}}
        self.health.listen(self.scheduler)
        for spec in specs:
            first = {"next_run_time": datetime.now(UTC) + timedelta(seconds=2)} if spec.name == "health" else {}
            self.scheduler.add_job(self._wrap(spec), "interval", seconds=spec.seconds, id=spec.name,
                                   max_instances=1, coalesce=True, misfire_grace_time=max(5, int(spec.seconds * 2)),
                                   **first)  # health: the first results 2 s after start, not one period later

    def start(self) -> None:
        """Beat once synchronously (so leadership and warm-up happen before the first tick), then schedule.

        A stop requested before or during start-up is honoured: the stop watch below shuts the
        scheduler down on its first run, so a signal can never be lost between the two. (Its skipped runs under
        load are not a health finding: HealthRecorder ignores INTERNAL_JOBS. A one-shot watch was tried and
        lost: APScheduler's own removal of the finished date job raced the shutdown it made.)
        """
        initialise_numba()  # before any job thread compiles (engine/regime/numba_init.py)
        self._load_trade_updates()
        jobs.run_recorded(self.ctx, "heartbeat", lambda _c: self._beat())
        self.add_jobs()
        self.scheduler.add_job(self._stop_watch, "interval", seconds=0.2, id=STOP_WATCH, max_instances=1,
                               coalesce=True, next_run_time=datetime.now(UTC))
        self._started = True
        threading.Thread(target=self._stop_when_requested, name="engine-stop", daemon=True).start()
        self.scheduler.start()  # returns at once for Background; blocks until shutdown for Blocking

    def _stop_watch(self) -> None:
        if self._stop_requested.is_set() and self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def _stop_when_requested(self) -> None:
        """The scheduler's shutdown for a stop a signal asked for, from a thread of its own (not the handler's)."""
        self._stop_requested.wait()
        if self.scheduler.running:
            with contextlib.suppress(SchedulerNotRunningError):  # stopped meanwhile by the stop watch
                self.scheduler.shutdown(wait=False)

    def request_stop(self) -> None:
        """Stop scheduling new job runs now (from a thread; a signal handler uses request_stop_from_signal)."""
        self._stop_requested.set()
        if self._started and self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def request_stop_from_signal(self) -> None:
        """Only sets the stop event; the engine-stop thread shuts the scheduler down a moment later.

        The handler runs in the main thread wherever the signal interrupted it, possibly inside the scheduler
        while it holds the thread pool's lock: shutting the pool down from there waited for that lock forever
        (CI: `python -m engine` never exited after a SIGINT)."""
        self._stop_requested.set()

    def _start_trade_updates(self) -> None:
        """Alpaca's trade_updates stream, applied to the store as events arrive: opened when this engine becomes
        the leader (a standby authenticating a broker connection it must not use was audit 4's finding)."""
        if self.trade_updates is not None or not self._uses_alpaca():
            return  # another broker: nothing to import inside a takeover's beat (it delays the first plan)
        try:
            # local import: alpaca-py loads only with the Alpaca broker, and a failure to load is logged here, not fatal
            from engine.trading.trade_updates import start_trade_updates

            self.trade_updates = start_trade_updates(
                self.ctx, lambda: self.is_leader and not self._stop_requested.is_set())
        except Exception:  # noqa: BLE001 - the scheduled REST sync still brings every order state
            log.exception("could not start Alpaca's trade_updates stream; the account sync carries on alone")

    def _uses_alpaca(self) -> bool:
        return getattr(self.ctx.broker, "name", "") == "alpaca"

    def _load_trade_updates(self) -> None:
        """At start, standby or not: import the stream's code (alpaca-py) now, not inside a takeover's beat."""
        if self._uses_alpaca():
            try:
                # local import: alpaca-py loads only with the Alpaca broker; a failure is logged again at the start
                import engine.trading.trade_updates  # noqa: F401
            except Exception:  # noqa: BLE001 - logged when the stream is started
                log.debug("trade_updates stream code did not load", exc_info=True)

    def _stop_trade_updates(self) -> None:
        """Close the stream when this engine no longer leads (from a beat: never from the stream's own thread)."""
        if self.trade_updates is None:
            return
        stream, _applier = self.trade_updates
        self.trade_updates = None
        try:
            stream.stop(timeout_s=3.0)
            log.info("engine %s closed Alpaca's trade_updates stream (not the active engine)", self.ctx.engine_id)
        except Exception:  # noqa: BLE001 - the applier writes nothing without the lease anyway
            log.exception("could not close Alpaca's trade_updates stream")

    def finish(self) -> None:
        """After the scheduler stopped: give up the lease so a standby can take over at once."""
        self._stop_trade_updates()
        try:
            jobs.release_lease(self.ctx)
        except Exception:  # noqa: BLE001
            log.exception("could not release the engine lease")

    def shutdown(self, actor: str = "system:signal", flatten: bool | None = None) -> None:
        """Stop scheduling, run the trading shutdown sequence (cancel, optionally flatten, save), release the lease.

        flatten=None lets the active parameters decide (TradingRisk flatten_on_shutdown).

        Idempotent: a second call (atexit after a signal) does nothing.
        """
        if self._shut_down:
            return
        self._shut_down = True
        self.request_stop()
        if self.is_leader:  # renew first: the shutdown's writes are fenced, and another engine may lead by now
            try:
                self.is_leader = jobs.heartbeat(self.ctx)
            except Exception:  # noqa: BLE001 - the store is down: the fenced writes below will say so
                log.exception("could not renew the lease before the graceful shutdown")
        if self.is_leader:
            try:
                log.info("graceful shutdown: %s", graceful_shutdown(self.ctx, actor=actor, flatten=flatten))
            except Exception:  # noqa: BLE001 - the engine must still exit and release its lease
                log.exception("graceful shutdown failed")
        else:
            log.info("stopping a standby engine: trading (orders, state) is left to the active engine")
        self.finish()
