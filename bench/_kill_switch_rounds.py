"""Shared rounds of bench/bench_kill_switch.py: a paper store with 100 open orders, the kill switch through
engine.trading.control.perform and its bare baseline, the state watch that times HALTED, and the report."""
from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from engine.clock import SystemClock
from engine.job_specs import COMMAND_POLL_SECONDS
from engine.store.migrate import open_store
from engine.trading import command_runner, control
from engine.trading import state as ts
from engine.trading.brokers.base import OrderRequest, OrderSide, OrderType
from engine.trading.brokers.paper import PaperBroker
from engine.trading.control import SimpleControlContext
from tests.trading_control_fixtures import SYMBOLS, beat, seed_market

ENGINE_POLL_S = COMMAND_POLL_SECONDS  # the engine's real command-job period


def paper_ctx(path: Path) -> SimpleControlContext:
    clock = SystemClock()
    store = open_store(f"sqlite:///{path}", migrate=True)
    seed_market(store, clock)
    broker = PaperBroker(store, clock, starting_cash=Decimal(10**9))
    return SimpleControlContext(store=store, clock=clock, broker=broker)


def rest(ctx: SimpleControlContext, n: int, tag: str) -> None:
    for i in range(n):
        ctx.broker.submit_order(OrderRequest(f"{tag}-{i}", SYMBOLS[i % len(SYMBOLS)], OrderSide.BUY, Decimal(1),
                                             OrderType.LIMIT, Decimal(50)))
    assert len(ctx.broker.list_open_orders()) == n


class StateWatch:
    """A reader thread (another connection) noting when HALTED first becomes visible."""

    def __init__(self, ctx: SimpleControlContext) -> None:
        self.ctx, self.seen_at = ctx, None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self.ctx.store.read() as s:
                if ts.current(s).state is ts.TradingState.HALTED:
                    self.seen_at = time.perf_counter()
                    return
            time.sleep(0.001)

    def __enter__(self) -> StateWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def wait_all_cancelled(ctx: SimpleControlContext, timeout: float = 10.0) -> float:
    deadline = time.perf_counter() + timeout
    while ctx.broker.list_open_orders():
        if time.perf_counter() > deadline:
            raise RuntimeError("orders still open")
        time.sleep(0.002)
    return time.perf_counter()


def reset(ctx: SimpleControlContext) -> None:
    with ctx.store.write() as s:
        ts.change(s, ctx.clock.now(), ts.TradingState.ACTIVE, "bench", "next round")


def round_perform(ctx: SimpleControlContext, n: int, tag: str, **kw: Any) -> tuple[float, float]:
    rest(ctx, n, tag)
    with StateWatch(ctx) as watch:
        t0 = time.perf_counter()
        control.perform(ctx, "bench", "halt", reason="bench", **kw)
        done = wait_all_cancelled(ctx)
    assert watch.seen_at is not None
    reset(ctx)
    return (watch.seen_at - t0) * 1000, (done - t0) * 1000


def round_baseline(ctx: SimpleControlContext, n: int, tag: str) -> tuple[float, float]:
    rest(ctx, n, tag)
    t0 = time.perf_counter()
    with ctx.store.write() as s:
        ts.change(s, ctx.clock.now(), ts.TradingState.HALTED, "bench", "baseline")
    t1 = time.perf_counter()
    ctx.broker.cancel_all_orders()
    t2 = time.perf_counter()
    reset(ctx)
    return (t1 - t0) * 1000, (t2 - t0) * 1000


def engine_thread(ctx: SimpleControlContext, stop: threading.Event) -> threading.Thread:
    def run() -> None:
        while not stop.wait(ENGINE_POLL_S):
            beat(ctx.store, ctx.clock.now())
            command_runner.process_pending_commands(ctx)

    beat(ctx.store, ctx.clock.now())
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def report(name: str, rows: list[tuple[float, float]]) -> None:
    halted = [r[0] for r in rows]
    cancelled = [r[1] for r in rows]
    print(f"{name:<34} HALTED median {statistics.median(halted):7.1f} ms  max {max(halted):7.1f} ms   "
          f"all cancelled median {statistics.median(cancelled):7.1f} ms  max {max(cancelled):7.1f} ms")


def run_rounds(rounds: int, fn: Callable[[int], tuple[float, float]]) -> list[tuple[float, float]]:
    return [fn(i) for i in range(rounds)]
