"""Batch regime replay (engine/regime/batch) against TA-Lib alone and against the incremental replay.

Run: python -m bench.bench_regime_replay [--minutes 100000] [--no-incremental] [--repeat 5]
  For 5,000 daily bars (real S&P 500, arch package) and N one-minute bars (simulated index):
  - TA-Lib indicators alone on the same arrays (bench.bench_regime.talib_alone, best of 7),
  - the batch replay (engine.regime.replay, steady state: best of --repeat, after one untimed call;
    goal <= 10x TA-Lib), wall clock and process CPU time (the CPU ratio is the steadier one on a busy
    machine),
  - the incremental replay (replay(engine="incremental"), the old path, one run),
  printed as times, us/bar and ratios measured in this run; the two replays are checked equal;
  - the fixed costs inside every batch replay that no classification algorithm removes: the classifier
    built from the parameters (modules, formation, stability tables) and the output DataFrame built
    from the finished columns (the OutputFormat columns, as the incremental path gives them), as ratios
    to TA-Lib: where they alone pass 10x, the goal cannot be met with this output.
  First line: the first call of the process (imports, numba: compiled or loaded from the on-disk
  cache, cache=True) on 300 daily bars, against the same call once warm.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import pandas as pd

from bench.bench_regime import talib_alone
from engine.market.simulated import SimulatedMarket
from engine.params import default_params
from engine.params.paramset import ParamSet
from engine.regime.batch import BatchClassifier, chunk, frame
from engine.regime.replay import output_columns, replay


def best_of(fn: Callable[[], object], n: int) -> tuple[float, float]:
    """(best wall seconds, best process CPU seconds) over n calls."""
    wall, cpu = [], []
    for _ in range(n):
        t, c = time.perf_counter(), time.process_time()
        fn()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - t)
    return min(wall), min(cpu)


def first_call(ps: ParamSet) -> None:
    """The process's first replay (numba load or compile included) against the same replay warm."""
    # local import: the batch kernels, only to read numba's cache statistics after the first call
    from engine.regime.batch import kernel, quantiles, rank, recur, trend, vote

    df = daily_bars(300)
    t = time.perf_counter()
    replay(df, ps)
    first = time.perf_counter() - t
    warm, _ = best_of(lambda: replay(df, ps), 3)
    fns: list[Any] = [kernel.run, rank.rank_pct, quantiles.window_profile, recur.held_ema, trend.codes,
                      trend.alternatives, vote.add_timeframe, vote.column_nanstd]  # numba dispatchers
    hits = misses = 0
    for f in fns:
        hits += int(sum(f.stats.cache_hits.values()))
        misses += int(sum(f.stats.cache_misses.values()))
    how = "compiled now" if misses else "loaded from the on-disk cache" if hits else "not used"
    print(f"first call (300 daily bars): {first:.2f} s, warm {warm * 1e3:.1f} ms -> first-call overhead "
          f"{first - warm:.2f} s (imports and numba kernels: {how}; steady-state figures below exclude it)",
          flush=True)


def daily_bars(n: int = 5000) -> pd.DataFrame:
    import arch.data.sp500

    raw = arch.data.sp500.load().reset_index().iloc[:n]
    return pd.DataFrame({"timestamp": pd.to_datetime(raw["Date"]).dt.tz_localize("UTC") + pd.Timedelta(hours=21),
                         "open": raw["Open"], "high": raw["High"], "low": raw["Low"], "close": raw["Close"],
                         "volume": raw["Volume"].astype(float)})


def minute_bars(n: int) -> pd.DataFrame:
    bars, _ = SimulatedMarket(seed=7).history(n)
    return bars[bars["symbol"] == "IDX"].rename(columns={"ts": "timestamp"}).reset_index(drop=True)


def run(ps: ParamSet, name: str, df: pd.DataFrame, incremental: bool, repeat: int) -> None:
    t_ta, c_ta = best_of(lambda: talib_alone(df), 7)
    out: list[pd.DataFrame] = [replay(df, ps)]  # untimed: steady state below
    t_b, c_b = best_of(lambda: out.append(replay(df, ps)), repeat)
    n = len(df)
    line = (f"{name}: {n:,} bars | TA-Lib alone {t_ta * 1e3:.1f} ms (CPU {c_ta * 1e3:.1f} ms) | batch replay "
            f"{t_b:.3f} s ({t_b / n * 1e6:.1f} us/bar, CPU {c_b:.3f} s) = {t_b / t_ta:,.0f}x TA-Lib wall, "
            f"{c_b / max(c_ta, 1e-9):,.0f}x CPU (goal <= 10x)")
    if incremental:
        t0 = time.perf_counter()
        ref = replay(df, ps, engine="incremental")
        t_i = time.perf_counter() - t0
        pd.testing.assert_frame_equal(out[-1], ref)
        line += (f" | incremental {t_i:.2f} s ({t_i / n * 1e6:.0f} us/bar) = {t_i / t_ta:,.0f}x TA-Lib; "
                 f"batch is {t_i / t_b:.1f}x faster, outputs equal")
    print(line, flush=True)
    ctor, build = fixed_costs(ps, df, repeat)
    print(f"  fixed costs: classifier from parameters {ctor * 1e3:.1f} ms + output DataFrame from finished columns "
          f"{build * 1e3:.1f} ms = {(ctor + build) / t_ta:,.1f}x TA-Lib alone ({(ctor + build) / t_b:.0%} of the batch "
          "replay)", flush=True)


def fixed_costs(ps: ParamSet, df: pd.DataFrame, repeat: int) -> tuple[float, float]:
    """(best seconds to build the classifier, best seconds to build the output DataFrame from its columns)."""
    clf = BatchClassifier(ps)
    for start in range(0, len(df), 5_000):  # replay()'s feeding schedule, so the columns are the replay's
        clf.update_many(df.iloc[start:start + 5_000])
    cols = chunk.classify(clf, chunk.concat(clf.pieces))
    columns = output_columns(ps)
    ctor, _ = best_of(lambda: BatchClassifier(ps), max(3, repeat))
    build, _ = best_of(lambda: frame.build(clf, cols, columns), max(3, repeat))
    return ctor, build


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=int, default=100_000)
    ap.add_argument("--no-incremental", action="store_true", help="skip the old path (40 s+ at 100,000 bars)")
    ap.add_argument("--repeat", type=int, default=5, help="timed batch replays per data set (best is shown)")
    a = ap.parse_args()
    ps = default_params()
    first_call(ps)
    run(ps, "S&P 500 daily", daily_bars(), not a.no_incremental, a.repeat)
    run(ps, "simulated 1-minute", minute_bars(a.minutes), not a.no_incremental, max(2, a.repeat // 2))
    print(f"(machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
