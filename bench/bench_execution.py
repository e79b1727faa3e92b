"""Protective-stop evaluation per tick and gateway throughput with the order throttle off and on.

Stops: one market tick for a 60-position book (each a stop-loss, a percent trail, an ATR trail and a
take-profit), the engine's exact Decimal rule (engine/execution/stops.py). Baseline in the same run:
the same levels and crossings as float numpy arrays, the cheapest way to ask the same question.
Goal: <= 1 ms per tick. The full store round trip (check_stops: read 60 stops, write the moved marks)
on SQLite is printed too.

Gateway: orders/s through the real gateway into the paper broker on SQLite, with the throttle off
(rate 0), on at a rate it never reaches (the bucket's own cost), and on at a rate that binds (a quarter
of the unthrottled rate unless --rate): a burst beyond the bucket then leaves at the configured rate.
Run: python -m bench.bench_execution [--positions 60] [--ticks 2000] [--orders 100] [--rate R] [--burst 10]
"""
from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np

from bench._util import summary, timings_ms
from engine.clock import ManualClock
from engine.context import EngineContext
from engine.execution.stops import PriceBar, StopSpec, StopState, evaluate_bar
from engine.settings import load_settings
from engine.store.migrate import open_store
from engine.store.models import BarRow, Instrument, PositionRow, ProtectiveStop
from engine.trading import state as trading_state
from engine.trading.brokers.base import OrderSide, OrderType
from engine.trading.brokers.paper import PaperBroker
from engine.trading.gateway import OrderIntent, submit
from engine.trading.risk_limits import RiskLimits
from engine.trading.sync import sync_from_broker

T0 = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
SPEC = StopSpec(stop_loss_pct=Decimal(8), trail_pct=Decimal(10), trail_atr_mult=Decimal(3), take_profit_pct=Decimal(25))
LIMITS = RiskLimits(max_order_qty=Decimal(10**6), max_order_notional=Decimal(10**9), max_position_notional=Decimal(10**9),
                    max_gross_exposure_pct=Decimal(10**4), max_rejections=10**6)


def book(n: int, seed: int = 7) -> tuple[list[StopState], list[PriceBar]]:
    rng = random.Random(seed)
    states, bars = [], []
    for _ in range(n):
        entry = Decimal(str(round(rng.uniform(20, 400), 2)))
        states.append(StopState(1, entry, entry * Decimal("1.03"), T0, (entry * Decimal("0.01")).quantize(Decimal("0.01"))))
        px = entry * Decimal("1.02")
        bars.append(PriceBar(T0 + timedelta(minutes=1), px, px * Decimal("1.004"), px * Decimal("0.996"), px))
    return states, bars


def tick_decimal(states: list[StopState], bars: list[PriceBar]) -> int:
    fired = 0
    for st, bar in zip(states, bars, strict=True):
        _, trigger = evaluate_bar(SPEC, st, bar)
        fired += trigger is not None
    return fired


def tick_numpy(entry: np.ndarray, extreme: np.ndarray, atr: np.ndarray, bars: np.ndarray) -> int:
    o, h, lo = bars[:, 0], bars[:, 1], bars[:, 2]
    level = np.maximum.reduce([entry * 0.92, extreme * 0.90, extreme - 3 * atr])
    hit = lo <= level
    tp = h >= entry * 1.25
    return int(np.count_nonzero(hit | tp | (o <= level)))


def bench_stops(n: int, ticks: int) -> None:
    states, bars = book(n)
    entry = np.array([float(s.entry) for s in states])
    extreme = np.array([float(s.extreme) for s in states])
    atr = np.array([float(s.atr or 0) for s in states])
    arr = np.array([[float(b.open), float(b.high), float(b.low)] for b in bars])
    assert tick_decimal(states, bars) == tick_numpy(entry, extreme, atr, arr)  # the same answer
    ours = summary(timings_ms(lambda: tick_decimal(states, bars), ticks))
    base = summary(timings_ms(lambda: tick_numpy(entry, extreme, atr, arr), ticks))
    print(f"stop evaluation, {n} positions per tick: median {ours[0]:.3f} ms, p95 {ours[1]:.3f} ms "
          f"(goal <= 1 ms at the median: {'met' if ours[0] <= 1.0 else 'NOT met'})")
    print(f"  baseline numpy float arrays: median {base[0]:.3f} ms -> ratio {ours[0] / base[0]:.1f}x")


def make_ctx(path: Path, rate: float, burst: int, n_positions: int = 0) -> EngineContext:
    url = f"sqlite:///{path}"
    store = open_store(url, migrate=True)
    clock = ManualClock(T0)
    with store.write() as s:
        trading_state.ensure_state(s, T0)
        for i in range(max(n_positions, 8)):
            sym = f"S{i:03d}"
            s.add(Instrument(symbol=sym, kind="stock", has_options=False, source="bench"))
            s.add(BarRow(symbol=sym, ts=T0, open=100, high=101, low=99, close=100, volume=1e6))
            if i < n_positions:
                s.add(PositionRow(symbol=sym, qty=Decimal(100), avg_entry_price=Decimal(100),
                                  market_price=Decimal(100), unrealized_pnl=Decimal(0), updated_at=T0))
                s.add(ProtectiveStop(symbol=sym, status="active", direction=1, stop_loss_pct=Decimal(8),
                                     trail_pct=Decimal(10), trail_atr_mult=None, atr=None, take_profit_pct=Decimal(25),
                                     max_hold_seconds=None, entry_price=Decimal(100), extreme_price=Decimal(100),
                                     opened_at=T0, source="bench", actor="bench", created_at=T0, updated_at=T0,
                                     attempts=0))
    settings = load_settings(database_url=url, market_source="csv", csv_dir=path.parent, order_rate_per_second=rate,
                             order_burst=burst)
    ctx = EngineContext(settings, store, clock, PaperBroker(store, clock, Decimal(10**9)), None)
    sync_from_broker(ctx, LIMITS)  # the account snapshot the exposure checks need
    return ctx


def bench_store_tick(tmp: Path, n: int) -> None:
    from engine.execution.protect import check_stops
    from engine.market.types import Bar

    ctx = make_ctx(tmp / "stops.db", 0.0, 1, n_positions=n)
    price = [100.0]

    def tick() -> None:
        price[0] += 0.01  # every mark moves: 60 rows written each tick
        ctx.clock.advance(60)
        check_stops(ctx, [Bar(f"S{i:03d}", ctx.clock.now(), price[0], price[0] + 0.5, price[0] - 0.2, price[0], 1e5)
                          for i in range(n)])

    med, p95 = summary(timings_ms(tick, 30))
    print(f"  store round trip (check_stops on SQLite, {n} stops, every mark moved): median {med:.1f} ms, p95 {p95:.1f} ms")
    ctx.store.dispose()


def gateway_rate(ctx: EngineContext, n: int, tag: str) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        intent = OrderIntent(f"S{i % 8:03d}", OrderSide.BUY, Decimal(1), OrderType.LIMIT, Decimal(99), "bench",
                             f"{tag}-{i}")
        assert submit(ctx, intent, "bench", "planner", LIMITS).accepted
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--positions", type=int, default=60)
    ap.add_argument("--ticks", type=int, default=2000)
    ap.add_argument("--orders", type=int, default=100)
    ap.add_argument("--rate", type=float, default=0.0, help="0: a quarter of the unthrottled rate")
    ap.add_argument("--burst", type=int, default=10)
    args = ap.parse_args()
    bench_stops(args.positions, args.ticks)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        bench_store_tick(tmp, args.positions)
        off = make_ctx(tmp / "off.db", 0.0, 1)
        r_off = gateway_rate(off, args.orders, "off")
        loose = make_ctx(tmp / "loose.db", 10_000.0, args.burst)  # on, but far above what the gateway does
        r_loose = gateway_rate(loose, args.orders, "loose")
        rate = args.rate or max(1.0, round(r_off / 4, 1))  # a rate that binds: a quarter of the unthrottled one
        on = make_ctx(tmp / "on.db", rate, args.burst)
        r_on = gateway_rate(on, args.orders, "on")
        bound = args.orders / (max(1, args.orders - args.burst) / rate)
        print(f"gateway, {args.orders} orders back to back (SQLite, paper broker): throttle off {r_off:.1f} orders/s")
        print(f"  throttle on at 10000/s (never binds): {r_loose:.1f} orders/s -> ratio {r_loose / r_off:.2f} "
              "(the bucket's own cost)")
        print(f"  throttle on at {rate:g}/s, burst {args.burst}: {r_on:.1f} orders/s -> ratio {r_on / r_off:.2f} "
              f"(the bucket allows {min(bound, r_off):.1f}/s for this burst)")
        for c in (off, loose, on):
            c.store.dispose()

if __name__ == "__main__":
    main()
