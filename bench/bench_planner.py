"""Planner benchmark: factory time per preset (goal <= 50 ms), and a plan for a 30-position portfolio
with 60 symbols of history under each preset (goal <= 200 ms under default), with sequences evaluated
per second, against a baseline measured in the same run: the trend signal alone (engine.planner.context.
trend_quality, the old one-rule planner's EMA signal, whose module was removed) over the same 60 symbols' closes.
Plans are also timed in process CPU time (less sensitive to other processes on a shared machine than wall
time). Conservative and aggressive include default's plan on the same portfolio (their turnover anchor).

    python -m bench.bench_planner
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from bench._util import summary, timings_ms
from engine.planner.context import trend_quality
from engine.planner.planner import build_planner
from engine.planner.preset import BUILT_IN_PRESETS, load_preset
from engine.planner.synthetic import portfolio

REPEAT = 15
PLANS = 30


def cpu_median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()
    out = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        out.append((time.process_time() - t0) * 1000.0)
    return statistics.median(out)


def main() -> None:
    state = portfolio(positions=30, symbols=60, cash=50_000.0)
    closes = {str(s): state.history[s].to_numpy(dtype=float) for s in state.history.columns}
    base_med, base_p95 = summary(timings_ms(lambda: [trend_quality(c, 12, 50) for c in closes.values()], REPEAT))
    base_cpu = cpu_median_ms(lambda: [trend_quality(c, 12, 50) for c in closes.values()], REPEAT)
    print(f"baseline: trend signal alone (60 symbols): median {base_med:.1f} ms, p95 {base_p95:.1f} ms, "
          f"cpu median {base_cpu:.2f} ms")
    build_planner(load_preset("default"))  # imports the stage modules once, as any process does
    for name in BUILT_IN_PRESETS:
        preset = load_preset(name)
        f_med, f_p95 = summary(timings_ms(lambda p=preset: build_planner(p), REPEAT * 4))
        load_med, _ = summary(timings_ms(lambda n=name: load_preset(n), REPEAT * 4))
        planner = build_planner(preset)
        results: list = []
        p_med, p_p95 = summary(timings_ms(lambda pl=planner, out=results: out.append(pl.plan(state)), PLANS))
        p_cpu = cpu_median_ms(lambda pl=planner: pl.plan(state), PLANS)
        seqs = results[-1].sequences_evaluated
        goal = " (goal <= 200 ms)" if name == "default" else ""
        print(f"{name:>12}: factory median {f_med:.2f} ms p95 {f_p95:.2f} ms (goal <= 50 ms; load+validate TOML "
              f"{load_med:.2f} ms) | plan median {p_med:.1f} ms p95 {p_p95:.1f} ms{goal}, {seqs} sequences, "
              f"{seqs / (p_med / 1000):,.0f} sequences/s, {len(results[-1].steps)} trades, turnover "
              f"{results[-1].turnover:,.0f} | {p_med / base_med:.1f}x the baseline | cpu median {p_cpu:.1f} ms, "
              f"{p_cpu / base_cpu:.1f}x the baseline's cpu")
    mc = build_planner(load_preset("default"))
    mc.preset.params["scoring.monte_carlo"] = True
    m_med, _ = summary(timings_ms(lambda: mc.plan(state), REPEAT))
    print(f"     default + Monte Carlo ({mc.preset.params['scoring.mc_paths']} paths x top "
          f"{mc.preset.params['scoring.mc_top']}): plan median {m_med:.1f} ms ({m_med / base_med:.1f}x the baseline)")


if __name__ == "__main__":
    main()
