"""Portfolio risk cycle: a 60-position book with 2 years of daily history.

Measured: the risk cycle's computation (historical and parametric VaR/CVaR at 95% and 99%, exposures,
correlation and its largest cluster, beta, 10 stress scenarios: 4 hypothetical, the 5 worst index days
and 1 user scenario), from closes already in memory (returns included: from_closes + compute).
Baseline in the same run: plain numpy covariance of the same returns (np.cov of the 504 x 60 matrix).
The two are timed alternately, one of each per repeat, so a busy machine slows both alike; the ratio
is the median of the per-repeat ratios. Goal: <= 5x the baseline and under 50 ms.
Also shown: the compute from a history already prepared (the engine caches it until a new bar), and
the full job cycle read from and stored to SQLite (engine/portfolio_risk/job.run): what a tick pays.
BLAS runs on one thread by default (--blas-threads 0: the library's default): on a shared 2-core machine
OpenBLAS's threads wait for each other and a 61 x 61 product stalls for milliseconds, on both sides.
Run: python -m bench.bench_portfolio_risk [--names 60] [--days 504] [--repeat 50] [--blas-threads 1]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from bench._util import summary, timings_ms
from engine.clock import ManualClock
from engine.context import EngineContext
from engine.portfolio_risk import job
from engine.portfolio_risk.report import Book, compute
from engine.portfolio_risk.returns import from_closes
from engine.portfolio_risk.stress import UserScenario
from engine.settings import load_settings
from engine.store.migrate import open_store
from engine.store.models import BarRow, Instrument, PaperAccount, PaperPosition
from engine.trading.brokers.paper import PaperBroker
from engine.trading.sync import sync_from_broker

T0 = datetime(2026, 12, 1, 21, 0, tzinfo=UTC)


def market(names: int, days: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    idx = rng.normal(0.0003, 0.011, days)
    beta = rng.uniform(0.6, 1.6, names)
    sector = rng.normal(0, 0.006, (days, 6))[:, rng.integers(0, 6, names)]
    r = idx[:, None] * beta + sector + rng.normal(0, 0.012, (days, names))
    cols = ["IDX"] + [f"S{i:02d}" for i in range(names)]
    ts = [T0 - timedelta(days=days - i) for i in range(days + 1)]
    closes = 100 * np.cumprod(1 + np.vstack([np.zeros(names + 1), np.column_stack([idx, r])]), axis=0)
    return pd.DataFrame(closes, index=pd.DatetimeIndex(ts), columns=cols)


def store_cycle(closes: pd.DataFrame, qty: np.ndarray, tmp: Path) -> list[float]:
    url = f"sqlite:///{tmp / 'bench.db'}"
    store = open_store(url, migrate=True)
    clock = ManualClock(T0)
    with store.write() as s:
        for sym in closes.columns:
            s.add(Instrument(symbol=sym, kind="index" if sym == "IDX" else "stock", has_options=False, source="csv"))
        for ts, row in closes.iterrows():
            for sym, px in row.items():
                s.add(BarRow(symbol=sym, ts=ts.to_pydatetime(), open=px, high=px, low=px, close=px, volume=1e6))
        s.add(PaperAccount(id=1, cash=Decimal(10**7), realized_pnl=Decimal(0), commissions=Decimal(0), updated_at=T0))
        for sym, q in zip(closes.columns[1:], qty, strict=True):
            s.add(PaperPosition(symbol=sym, qty=Decimal(int(q)), avg_entry_price=Decimal(100)))
    ctx = EngineContext(load_settings(database_url=url, market_source="csv", csv_dir=tmp), store, clock,
                        PaperBroker(store, clock, Decimal(10**7)), None)
    sync_from_broker(ctx)
    out = timings_ms(lambda: job.run(ctx), repeat=20)
    store.dispose()
    return out


def paired_ms(fn: Callable[[], object], base: Callable[[], object], repeat: int) -> tuple[list[float], list[float]]:
    """Times of `fn` and of `base`, alternately (one of each per repeat, after two warm-ups of each)."""
    fns, out = (fn, base), ([], [])
    for _ in range(2):
        fn(), base()
    for _ in range(repeat):
        for f, times in zip(fns, out, strict=True):
            t0 = time.perf_counter()
            f()
            times.append((time.perf_counter() - t0) * 1000.0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--names", type=int, default=60)
    ap.add_argument("--days", type=int, default=504)
    ap.add_argument("--repeat", type=int, default=50)
    ap.add_argument("--blas-threads", type=int, default=1, help="0: the BLAS library's default")
    args = ap.parse_args()
    if args.blas_threads:
        threadpool_limits(args.blas_threads, user_api="blas")
    closes = market(args.names, args.days)
    rng = np.random.default_rng(2)
    qty = rng.integers(-300, 600, args.names).astype(float)
    qty[qty == 0] = 10
    symbols = tuple(closes.columns[1:])
    book = Book(symbols, qty, closes.iloc[-1, 1:].to_numpy(), equity=5_000_000.0)
    groups = {s: f"G{i % 6}" for i, s in enumerate(symbols)}
    user = [UserScenario("tech -8%", {"G0": -0.08, "INDEX": -0.02})]
    hist = from_closes(closes, "IDX")
    returns = closes.pct_change().iloc[1:, 1:].to_numpy()

    rep = compute(book, hist, groups, cluster_threshold=0.6, worst_days=5, user_scenarios=user)
    assert len(rep.scenarios) == 10, len(rep.scenarios)

    def from_closes_cycle() -> object:
        return compute(book, from_closes(closes, "IDX"), groups, cluster_threshold=0.6, worst_days=5,
                       user_scenarios=user)

    def prepared_cycle() -> object:
        return compute(book, hist, groups, cluster_threshold=0.6, worst_days=5, user_scenarios=user)

    print(f"book: {args.names} positions, {args.days} daily returns, {len(rep.scenarios)} scenarios, "
          f"largest cluster {rep.cluster.size} names; {args.repeat} repeats, medians; "
          f"BLAS threads {args.blas_threads or 'default'}")
    for label, cycle_fn in (("risk cycle (compute, from closes)", from_closes_cycle),
                            ("risk cycle (compute, prepared history)", prepared_cycle)):
        cycle, base = paired_ms(cycle_fn, lambda: np.cov(returns, rowvar=False), args.repeat)
        ratio = statistics.median(c / b for c, b in zip(cycle, base, strict=True))
        (c_med, c_p95), (b_med, b_p95) = summary(cycle), summary(base)
        print(f"{label:40s} median {c_med:8.3f} ms   p95 {c_p95:8.3f} ms")
        print(f"{'  numpy covariance (same repeats)':40s} median {b_med:8.3f} ms   p95 {b_p95:8.3f} ms")
        print(f"{'  ratio':40s} median {ratio:8.2f}x  (of medians {c_med / b_med:.2f}x, "
              f"of fastest runs {min(cycle) / min(base):.2f}x)   "
              f"goal <= 5x: {'met' if ratio <= 5 else 'NOT met'}; under 50 ms: {'met' if c_med < 50 else 'NOT met'}")
    with tempfile.TemporaryDirectory() as tmp:
        s_med, s_p95 = summary(store_cycle(closes, qty, Path(tmp)))
    print(f"{'job cycle with SQLite (read, compute, store)':40s} median {s_med:8.2f} ms   p95 {s_p95:8.2f} ms")


if __name__ == "__main__":
    main()
