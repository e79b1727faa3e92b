"""Market data figures: simulated poll and chain cost, implied vol vs pricing, restart replay.

Run: python bench/bench_market.py   (prints one line per figure; each has a baseline from the
same run, so a loaded machine shows up in both numbers).
"""
from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.market.options import bs_greeks, bs_price, implied_vol  # noqa: E402
from engine.market.simulated import SimulatedMarket  # noqa: E402


def _times_ms(fn: Callable[[], object], n: int) -> np.ndarray:
    out = np.empty(n)
    for i in range(n):
        t = time.perf_counter()
        fn()
        out[i] = (time.perf_counter() - t) * 1e3
    return out


def _fmt(a: np.ndarray) -> str:
    return f"median {np.median(a):.3f} ms, p95 {np.percentile(a, 95):.3f} ms"


def main() -> None:
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}")

    # 1. Poll: 9 one-minute bars + IDX and ALFA chains (3 expiries x 41 strikes x C/P each).
    m = SimulatedMarket(seed=7)
    for _ in range(200):
        m.poll()
    polls = _times_ms(m.poll, 2000)
    bars_only = SimulatedMarket(seed=7, chain_every=10**9)
    for _ in range(200):
        bars_only.poll()
    base = _times_ms(bars_only.poll, 2000)
    print(f"sim poll, 9 bars + 2 chains (246 contracts each): {_fmt(polls)}")
    print(f"  baseline poll, 9 bars, no chains:               {_fmt(base)}")

    # 2. Chain generation alone (both underlyings, at the current minute).
    minute = m.minute_of(m.next_ts) - 1
    chains = _times_ms(lambda: m._chains_at(minute), 2000)
    print(f"chain generation, 2 chains: {_fmt(chains)} ({np.median(chains) / 2:.3f} ms per chain)")

    # 3. Implied vol for 100k options vs pricing them.
    rng = np.random.default_rng(1)
    n = 100_000
    k = rng.uniform(30, 250, n)
    t = rng.choice([1 / 365 / 24, 1 / 365, 7 / 365, 0.1, 1.0, 3.0], n)
    v = rng.uniform(0.03, 1.5, n)
    call = rng.random(n) < 0.5
    price = bs_price(100.0, k, t, v, call, 0.03, 0.01)
    tp = _times_ms(lambda: bs_price(100.0, k, t, v, call, 0.03, 0.01), 7)
    tg = _times_ms(lambda: bs_greeks(100.0, k, t, v, call, 0.03, 0.01), 7)
    ti = _times_ms(lambda: implied_vol(price, 100.0, k, t, call, 0.03, 0.01), 5)
    iv = implied_vol(price, 100.0, k, t, call, 0.03, 0.01)
    err = np.max(np.abs(bs_price(100.0, k, t, iv, call, 0.03, 0.01) - price))
    print(f"implied_vol 100k options: {np.median(ti):.1f} ms; bs_price 100k: {np.median(tp):.1f} ms "
          f"(ratio {np.median(ti) / np.median(tp):.1f}x); bs_greeks 100k: {np.median(tg):.1f} ms; "
          f"failures {int(np.isnan(iv).sum())}, max repricing error {err:.1e}")

    # 4. Restart: resume_after 100,000 minutes of history (bars + OI book replay).
    r = SimulatedMarket(seed=7)
    last = r.ts_of(100_000 - 1)
    wall, cpu = [], []
    for _ in range(3):
        t0, c0 = time.perf_counter(), time.process_time()
        r.resume_after(last)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    t0 = time.perf_counter()
    r.history(100_000)
    hist = time.perf_counter() - t0
    print(f"resume_after(100,000 minutes): median {statistics.median(wall) * 1e3:.0f} ms wall, "
          f"{statistics.median(cpu) * 1e3:.0f} ms CPU; baseline history(100,000) bars only: {hist * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
