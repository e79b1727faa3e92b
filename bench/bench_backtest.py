"""Backtest throughput against the regime replay alone on the same data, measured in the same run.

Run: python -m bench.bench_backtest [--budget-s 120] [--minute-budget-s 120]
  daily:  5,000 daily bars x 9 symbols (the simulated universe relabelled as business days). The batch
          regime replay of the index is timed over all 5,000 bars; the backtest (the engine's jobs bar by
          bar: market, regime, account, risk, planner -> gateway -> paper broker) runs until its time
          budget, and its per-bar cost is compared with the replay's (goal <= 3x). The projected time of
          the full 5,000-bar backtest is printed.
  minute: a year of one-minute bars of the simulated universe (525,600 minutes x 9 symbols): the backtest
          runs until its budget and prints bars (index bars = engine cycles) per second, and the
          projected time of the whole year.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.backtest.inputs import BacktestCancelled, BacktestSpec, preset_by_name  # noqa: E402
from engine.backtest.runner import run_backtest  # noqa: E402
from engine.backtest.sample import simulated_frames  # noqa: E402
from engine.params import default_params  # noqa: E402
from engine.regime.replay import replay  # noqa: E402

YEAR_MINUTES = 365 * 24 * 60


def timed_backtest(frames: dict, budget_s: float) -> tuple[int, float, int, float]:
    """(bars done, seconds in the bar loop, total bars, set-up seconds): the run stops once past the budget."""
    spec = BacktestSpec(frames=frames, index_symbol="IDX", params=default_params(), preset=preset_by_name("default"),
                        cash=1_000_000.0)
    done, total = [0], [0]
    t0 = time.perf_counter()

    def progress(_n: int, of: int) -> None:
        total[0] = of

    first = [0.0]

    def stop() -> bool:  # asked once before each bar
        now = time.perf_counter()
        if not first[0]:
            first[0] = now  # the private store, parameters, preset and trading state are ready
        if now - t0 > budget_s:
            return True
        done[0] += 1
        return False

    with contextlib.suppress(BacktestCancelled):
        run_backtest(spec, progress=progress, cancelled=stop)
    end = time.perf_counter()
    return max(done[0], 0), end - first[0], total[0] or len(frames["IDX"]), first[0] - t0


def daily(budget_s: float) -> None:
    frames = simulated_frames(5_000, freq="B")
    index = frames["IDX"]
    t0 = time.perf_counter()
    replay(index, default_params(), symbol="IDX")
    t_replay = time.perf_counter() - t0
    per_replay = t_replay / len(index)
    bars, secs, total, setup = timed_backtest(frames, budget_s)
    per_bar = secs / max(bars, 1)
    print(f"daily: regime replay alone {len(index):,} bars in {t_replay:.2f} s ({per_replay * 1e6:.0f} us/bar)")
    print(f"daily: backtest {bars:,} of {total:,} bars x 9 symbols in {secs:.1f} s ({per_bar * 1e3:.1f} ms/bar, "
          f"{bars / secs:.1f} bars/s); ratio to the replay {per_bar / per_replay:,.0f}x (goal <= 3x); "
          f"projected full run {per_bar * total / 60:.1f} min (+{setup:.1f} s set-up)")


def minute(budget_s: float, minutes: int) -> None:
    t0 = time.perf_counter()
    frames = simulated_frames(minutes, freq="min")
    t_data = time.perf_counter() - t0
    bars, secs, total, setup = timed_backtest(frames, budget_s)
    rate = bars / secs if secs else 0.0
    print(f"minute: {minutes:,} one-minute bars x 9 symbols generated in {t_data:.1f} s; backtest {bars:,} bars "
          f"in {secs:.1f} s after {setup:.1f} s set-up = {rate:.1f} bars/s ({rate * 9:.0f} symbol-bars/s); projected year "
          f"{YEAR_MINUTES / max(rate, 1e-9) / 3600:.1f} h")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--budget-s", type=float, default=120.0, help="time budget of the daily backtest")
    p.add_argument("--minute-budget-s", type=float, default=120.0, help="time budget of the minute backtest")
    p.add_argument("--minutes", type=int, default=YEAR_MINUTES, help="one-minute bars generated (default a year)")
    a = p.parse_args()
    print(f"(machine load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs)")
    daily(a.budget_s)
    minute(a.minute_budget_s, a.minutes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
