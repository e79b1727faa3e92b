"""Backtest throughput against the regime replay alone on the same data, measured in the same run.

Run: python -m bench.bench_backtest [--budget-s 120] [--minute-budget-s 120] [--live-budget-s 20]
                                    [--breakdown-bars 150] [--compare-bars 150] [--floor-bars 50]
  daily:  5,000 daily bars x 9 symbols (the simulated universe relabelled as business days). The batch
          regime replay of the index is timed over all 5,000 bars (steady state: best of 3 after one
          untimed call, which loads numba's kernels); the backtest (the engine's jobs bar by
          bar: market, regime, account, risk, planner -> gateway -> paper broker) runs until its time
          budget, and its per-bar cost is compared with the replay's (goal <= 3x). The projected time of
          the full 5,000-bar backtest is printed.
  live:   the same engine jobs driven as the live engine runs them (tests/integration/
          test_backtest_live_parity.py: a migrated SQLite file store, the CSV source, every read from the
          store) over the same daily bars until --live-budget-s: the backtest's speed-up over the live path
          in this run (the live run covers only the first bars, which are the cheaper ones: the speed-up
          is if anything understated).
  shortcuts: the first --compare-bars daily bars with the backtest's shortcuts (in-memory store, bars read from
          memory, no job-run rows) and without them (run_backtest(shortcuts=False): a file store, every read from
          it, as this morning's backtest ran), wall and CPU time per bar: what the shortcuts save, in this run.
  breakdown: --breakdown-bars bars of the daily backtest again under per-stage timers (bench/_backtest_stages.py):
          where a bar's time goes (planner, gateway, paper broker, regime, risk, SQL statements).
  floor:  why the daily goal cannot be met on the engine path: the store transactions a bar opens (counted over
          --floor-bars bars of the daily backtest) priced at the cheapest transaction there is (a one-row read by
          primary key on the backtest's own in-memory store, best of many), against the 3x budget a bar.
  minute: a year of one-minute bars of the simulated universe (525,600 minutes x 9 symbols): the backtest
          runs until its budget and prints bars (index bars = engine cycles) per second, and the
          projected time of the whole year.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import event  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from bench._backtest_stages import report, stage_timers  # noqa: E402
from engine import jobs  # noqa: E402
from engine.backtest.inputs import BacktestCancelled, BacktestSpec, preset_by_name  # noqa: E402
from engine.backtest.presets import use_presets  # noqa: E402
from engine.backtest.private import PrivateStore  # noqa: E402
from engine.backtest.runner import run_backtest  # noqa: E402
from engine.backtest.sample import simulated_frames, write_csv_dir  # noqa: E402
from engine.clock import ManualClock  # noqa: E402
from engine.cycle import EngineCycle  # noqa: E402
from engine.params import default_params  # noqa: E402
from engine.params.typed import Parameters  # noqa: E402
from engine.params.versions import apply_version  # noqa: E402
from engine.regime.replay import replay  # noqa: E402
from engine.runtime import build_context  # noqa: E402
from engine.settings import load_settings  # noqa: E402
from engine.store.models import KeyValue  # noqa: E402

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


def daily(budget_s: float) -> tuple[float, float]:
    """Prints the replay and the backtest per bar; returns (the backtest's, the replay's) seconds per bar."""
    frames = simulated_frames(5_000, freq="B")
    index = frames["IDX"]
    replay(index, default_params(), symbol="IDX")  # untimed: the first call loads numba's kernels and imports
    times = []
    for _ in range(3):  # steady state, best of 3 (as bench_regime_replay)
        t0 = time.perf_counter()
        replay(index, default_params(), symbol="IDX")
        times.append(time.perf_counter() - t0)
    t_replay = min(times)
    per_replay = t_replay / len(index)
    bars, secs, total, setup = timed_backtest(frames, budget_s)
    per_bar = secs / max(bars, 1)
    print(f"daily: regime replay alone {len(index):,} bars in {t_replay:.2f} s ({per_replay * 1e6:.0f} us/bar)")
    print(f"daily: backtest {bars:,} of {total:,} bars x 9 symbols in {secs:.1f} s ({per_bar * 1e3:.1f} ms/bar, "
          f"{bars / secs:.1f} bars/s); ratio to the replay {per_bar / per_replay:,.0f}x (goal <= 3x); "
          f"projected full run {per_bar * total / 60:.1f} min (+{setup:.1f} s set-up)")
    return per_bar, per_replay


def live(budget_s: float, backtest_per_bar: float) -> None:
    """The same jobs as the live engine drives them (the parity test's loop) on the daily bars, until the budget."""
    frames = simulated_frames(1_500, freq="B")
    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp:
        csv_dir = write_csv_dir(frames, Path(tmp) / "csv")
        settings = load_settings(database_url=f"sqlite:///{Path(tmp) / 'live.db'}", market_source="csv",
                                 csv_dir=csv_dir, csv_index_symbol="IDX", broker="paper", paper_starting_cash=1_000_000.0,
                                 autotrade=True, warmup_polls=0)
        clock = ManualClock()
        ctx = build_context(settings, with_source=True, migrate=True, clock=clock)
        try:
            jobs.ensure_instruments(ctx)
            apply_version(ctx.store, default_params(), "bench", "cli", clock=clock)
            use_presets(ctx, preset_by_name("default"), {},
                        [str(r.regime_name) for r in Parameters(default_params()).regime_parameters.rows])
            cycle = EngineCycle()
            cycle.startup(ctx)
            done, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < budget_s and done < len(frames["IDX"]):
                clock.advance(timedelta(seconds=1))
                cycle.market(ctx)
                cycle.account(ctx)
                cycle.risk(ctx)
                cycle.planner(ctx)
                done += 1
            secs = time.perf_counter() - t0
        finally:
            ctx.store.dispose()
    per_bar = secs / max(done, 1)
    print(f"live: the engine jobs as the live engine drives them (SQLite file store, every read from it): {done:,} bars "
          f"in {secs:.1f} s ({per_bar * 1e3:.1f} ms/bar); the backtest is {per_bar / backtest_per_bar:.1f}x faster per bar")


def first_bars(frames: dict, n_bars: int, shortcuts: bool) -> tuple[int, float, float]:
    """(bars done, wall s, CPU s) of the first `n_bars` bars of a backtest of `frames` (set-up excluded)."""
    spec = BacktestSpec(frames=frames, index_symbol="IDX", params=default_params(), preset=preset_by_name("default"),
                        cash=1_000_000.0)
    done, marks = [0], [0.0, 0.0]

    def stop() -> bool:
        if done[0] == 0:
            marks[0], marks[1] = time.perf_counter(), time.process_time()
        if done[0] >= n_bars:
            return True
        done[0] += 1
        return False

    with contextlib.suppress(BacktestCancelled):
        run_backtest(spec, cancelled=stop, shortcuts=shortcuts)
    return done[0], time.perf_counter() - marks[0], time.process_time() - marks[1]


def compare(n_bars: int) -> None:
    frames = simulated_frames(5_000, freq="B")
    n_fast, wall_fast, cpu_fast = first_bars(frames, n_bars, shortcuts=True)
    n_ref, wall_ref, cpu_ref = first_bars(frames, n_bars, shortcuts=False)
    fast, ref = wall_fast / max(n_fast, 1), wall_ref / max(n_ref, 1)
    cfast, cref = cpu_fast / max(n_fast, 1), cpu_ref / max(n_ref, 1)
    print(f"shortcuts: first {n_fast} daily bars with the backtest's shortcuts {fast * 1e3:.1f} ms/bar (CPU {cfast * 1e3:.1f}); "
          f"without (file store, every read from it) {ref * 1e3:.1f} ms/bar (CPU {cref * 1e3:.1f}): "
          f"{ref / fast:.1f}x wall, {cref / cfast:.1f}x CPU")


def breakdown(n_bars: int) -> None:
    frames = simulated_frames(n_bars, freq="B")
    spec = BacktestSpec(frames=frames, index_symbol="IDX", params=default_params(), preset=preset_by_name("default"),
                        cash=1_000_000.0)
    with stage_timers() as totals:
        t0 = time.perf_counter()
        run_backtest(spec)
        secs = time.perf_counter() - t0
    print(f"breakdown: daily backtest of {n_bars} bars under stage timers, {secs:.1f} s (set-up included)")
    for line in report(totals, n_bars, secs):
        print(line)


def transactions_per_bar(n_bars: int, skip: int = 10) -> float:
    """Store transactions (the engine's "begin" events: the private store sends its BEGIN to the driver directly,
    past the cursor events) a daily backtest bar opens."""
    frames = simulated_frames(n_bars + skip + 5, freq="B")
    spec = BacktestSpec(frames=frames, index_symbol="IDX", params=default_params(), preset=preset_by_name("default"),
                        cash=1_000_000.0)
    bar, begins = [0], [0]

    def count(_conn: object) -> None:
        if skip < bar[0] <= skip + n_bars:
            begins[0] += 1

    def stop() -> bool:
        bar[0] += 1
        return bar[0] > skip + n_bars

    event.listen(Engine, "begin", count)
    try:
        with contextlib.suppress(BacktestCancelled):
            run_backtest(spec, cancelled=stop)
    finally:
        event.remove(Engine, "begin", count)
    return begins[0] / n_bars


def cheapest_transaction(rounds: int = 2_000) -> float:
    """Seconds of one read transaction selecting one row by primary key on a backtest's store (best of `rounds`)."""
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as tmp:
        store = PrivateStore(Path(tmp))
        try:
            with store.write() as s:
                s.add(KeyValue(key="k", value={"v": 1}, updated_at=ManualClock().now()))
            best = float("inf")
            for _ in range(rounds):
                t0 = time.perf_counter()
                with store.read() as s:
                    s.get(KeyValue, "k")
                best = min(best, time.perf_counter() - t0)
        finally:
            store.dispose()
    return best


def floor(per_replay: float, per_bar: float, n_bars: int) -> None:
    """The engine path's store transactions alone, at the cheapest price, against the 3x goal a bar."""
    tx = transactions_per_bar(n_bars)
    one = cheapest_transaction()
    goal = 3 * per_replay
    print(f"floor: a daily bar opens {tx:.1f} store transactions (over {n_bars} bars); the cheapest one (a one-row read "
          f"by primary key, in memory) costs {one * 1e6:.0f} us, so the transactions alone cost >= {tx * one * 1e3:.2f} ms "
          f"a bar = {tx * one / goal:,.0f}x the 3x goal's {goal * 1e6:.0f} us a bar (the whole bar: {per_bar * 1e3:.1f} ms); "
          f"a single transaction is {one / goal:.0f}x that budget")


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
    p.add_argument("--live-budget-s", type=float, default=20.0, help="time budget of the live-path run (0: skip)")
    p.add_argument("--breakdown-bars", type=int, default=150, help="bars of the per-stage breakdown run (0: skip)")
    p.add_argument("--compare-bars", type=int, default=150, help="bars timed with and without shortcuts (0: skip)")
    p.add_argument("--floor-bars", type=int, default=50, help="bars whose store transactions are counted (0: skip)")
    a = p.parse_args()
    print(f"(machine load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs)")
    per_bar, per_replay = daily(a.budget_s)
    if a.live_budget_s > 0:
        live(a.live_budget_s, per_bar)
    if a.compare_bars > 0:
        compare(a.compare_bars)
    if a.breakdown_bars > 0:
        breakdown(a.breakdown_bars)
    if a.floor_bars > 0:
        floor(per_replay, per_bar, a.floor_bars)
    minute(a.minute_budget_s, a.minutes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
