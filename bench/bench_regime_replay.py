"""Batch regime replay (engine/regime/batch) against TA-Lib alone and against the incremental replay.

Run: python -m bench.bench_regime_replay [--minutes 100000] [--no-incremental]
  For 5,000 daily bars (real S&P 500, arch package) and N one-minute bars (simulated index):
  - TA-Lib indicators alone on the same arrays (bench.bench_regime.talib_alone, best of 5),
  - the batch replay (engine.regime.replay, best of 3; goal <= 10x TA-Lib),
  - the incremental replay (replay(engine="incremental"), the old path, one run),
  printed as times, us/bar and ratios measured in this run; the two replays are checked equal.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable

import pandas as pd

from bench.bench_regime import talib_alone
from engine.market.simulated import SimulatedMarket
from engine.params import default_params
from engine.regime.replay import replay


def best_of(fn: Callable[[], object], n: int) -> float:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return min(out)


def daily_bars(n: int = 5000) -> pd.DataFrame:
    import arch.data.sp500

    raw = arch.data.sp500.load().reset_index().iloc[:n]
    return pd.DataFrame({"timestamp": pd.to_datetime(raw["Date"]).dt.tz_localize("UTC") + pd.Timedelta(hours=21),
                         "open": raw["Open"], "high": raw["High"], "low": raw["Low"], "close": raw["Close"],
                         "volume": raw["Volume"].astype(float)})


def minute_bars(n: int) -> pd.DataFrame:
    bars, _ = SimulatedMarket(seed=7).history(n)
    return bars[bars["symbol"] == "IDX"].rename(columns={"ts": "timestamp"}).reset_index(drop=True)


def run(ps: object, name: str, df: pd.DataFrame, incremental: bool) -> None:
    t_ta = best_of(lambda: talib_alone(df), 5)
    out: list[pd.DataFrame] = []
    t_b = best_of(lambda: out.append(replay(df, ps)), 3 if len(df) <= 20_000 else 2)
    n = len(df)
    line = (f"{name}: {n:,} bars | TA-Lib alone {t_ta * 1e3:.1f} ms | batch replay {t_b:.2f} s "
            f"({t_b / n * 1e6:.1f} us/bar) = {t_b / t_ta:,.0f}x TA-Lib (goal <= 10x)")
    if incremental:
        t0 = time.perf_counter()
        ref = replay(df, ps, engine="incremental")
        t_i = time.perf_counter() - t0
        pd.testing.assert_frame_equal(out[-1], ref)
        line += (f" | incremental {t_i:.2f} s ({t_i / n * 1e6:.0f} us/bar) = {t_i / t_ta:,.0f}x TA-Lib; "
                 f"batch is {t_i / t_b:.1f}x faster, outputs equal")
    print(line, flush=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=int, default=100_000)
    ap.add_argument("--no-incremental", action="store_true", help="skip the old path (40 s+ at 100,000 bars)")
    a = ap.parse_args()
    ps = default_params()
    run(ps, "S&P 500 daily", daily_bars(), not a.no_incremental)
    run(ps, "simulated 1-minute", minute_bars(a.minutes), not a.no_incremental)
    print(f"(machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
