"""Regime engine figures: one live cycle, and batch replays against TA-Lib alone on the same data.

Run: python bench/bench_regime.py [--minutes 100000]
  live cycle: one underlying, 1-minute bars (classifier holding a full buffer of bars), a fresh
              2-expiry x 41-strike chain each cycle -> median and p95 (goal <= 10 ms median);
              the same cycle without a chain is printed as well.
  batch:      replay of 5,000 daily bars (real S&P 500 from the arch package) and of N 1-minute bars
              (simulated index), each as a ratio to computing the engine's TA-Lib indicators alone
              (TRANGE/EMA ATR, EMA, ADX, RSI, BBANDS, MAX/MIN, SMA, the five LINEARREG_SLOPE/STDDEV
              timeframe windows, noise STDDEV/SUM) on the same arrays in the same run.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import talib

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._util import summary  # noqa: E402
from engine.market.simulated import SimulatedMarket  # noqa: E402
from engine.params import default_params  # noqa: E402
from engine.regime.classifier import MAX_BUFFER, RegimeClassifier  # noqa: E402
from engine.regime.replay import replay  # noqa: E402
from engine.regime.testing import chain  # noqa: E402

BUFFER = MAX_BUFFER  # the live classifier's steady state: a full buffer before timing starts
CYCLES = 300


def talib_alone(df: pd.DataFrame) -> None:
    """The TA-Lib work the engine does per replay, computed once over the same arrays."""
    h, lo, c, v = (np.ascontiguousarray(df[k].to_numpy(dtype=float)) for k in ("high", "low", "close", "volume"))
    talib.EMA(talib.TRANGE(h, lo, c), 14)
    talib.EMA(c, 14)
    talib.ADX(h, lo, c, 14)
    talib.RSI(c, 14)
    talib.MAX(c, 15)
    talib.MIN(c, 15)
    talib.BBANDS(c, 20, 2.0, 2.0)
    talib.SMA(c, 20)
    logc = np.log(c)
    r = np.r_[0.0, np.diff(logc)]
    for w in (30, 60, 120, 180, 240):
        talib.LINEARREG_SLOPE(logc, w)
        talib.STDDEV(r, w)
    talib.STDDEV(r, 50)
    talib.SUM(np.abs(r), 50)
    talib.SUM(r, 50)
    talib.SMA(v, 50)


def best_of(fn, n: int) -> float:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return min(out)


def live_cycle(ps) -> None:
    m = SimulatedMarket(seed=7, start=datetime(2026, 1, 5, 3, 45, tzinfo=UTC))
    bars, _ = m.history(BUFFER + CYCLES)
    idx = bars[bars["symbol"] == "IDX"].rename(columns={"ts": "timestamp"}).reset_index(drop=True)
    for with_chain in (True, False):
        clf = RegimeClassifier(ps, "IDX")
        clf.update_many(idx.iloc[:BUFFER])
        times = []
        for k in range(BUFFER, BUFFER + CYCLES):
            row = idx.iloc[k:k + 1]
            ch = chain(float(row["close"].iloc[0]), row["timestamp"].iloc[0].to_pydatetime(), expiries=(7.0, 30.0),
                       n_strikes=41) if with_chain else None
            t = time.perf_counter()
            clf.update(row, ch)
            times.append((time.perf_counter() - t) * 1e3)
        med, p95 = summary(times)
        label = "with 2x41 chain" if with_chain else "price only     "
        print(f"live cycle {label} ({BUFFER}-bar buffer): median {med:.2f} ms, p95 {p95:.2f} ms "
              f"(goal <= 10 ms median)")


def batch(ps, name: str, df: pd.DataFrame) -> None:
    t_ta = best_of(lambda: talib_alone(df), 5)
    t0 = time.perf_counter()
    out = replay(df, ps)
    t_re = time.perf_counter() - t0
    print(f"batch replay {name}: {len(df):,} bars in {t_re:.2f} s ({t_re / len(df) * 1e6:.0f} us/bar); "
          f"TA-Lib indicators alone {t_ta * 1e3:.2f} ms; ratio {t_re / t_ta:,.0f}x; "
          f"{int(out['regime_transition'].sum())} transitions")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=int, default=100_000)
    a = ap.parse_args()
    ps = default_params()
    live_cycle(ps)
    import arch.data.sp500

    raw = arch.data.sp500.load().reset_index().iloc[:5000]
    daily = pd.DataFrame({"timestamp": pd.to_datetime(raw["Date"]).dt.tz_localize("UTC") + pd.Timedelta(hours=21),
                          "open": raw["Open"], "high": raw["High"], "low": raw["Low"], "close": raw["Close"],
                          "volume": raw["Volume"].astype(float)})
    batch(ps, "S&P 500 daily", daily)
    bars, _ = SimulatedMarket(seed=7).history(a.minutes)
    minute = bars[bars["symbol"] == "IDX"].rename(columns={"ts": "timestamp"}).reset_index(drop=True)
    batch(ps, "simulated 1-minute", minute)
    print(f"(machine load average {statistics.mean(__import__('os').getloadavg()):.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
