"""Engine market tick (simulated market with option chains -> store -> paper broker -> regime), median and p95.

Baseline in the same run: the simulated market's poll alone (no store, no regime).
Run: python bench/bench_engine_tick.py
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._util import summary, timings_ms  # noqa: E402
from engine import jobs  # noqa: E402
from engine.market.simulated import SimulatedMarket  # noqa: E402
from tests.engine_run import warmed_engine  # noqa: E402

TICKS = 300


def main() -> None:
    market = SimulatedMarket(seed=11)
    poll_only = timings_ms(market.poll, TICKS)
    with tempfile.TemporaryDirectory() as tmp:
        ctx, cycle = warmed_engine(f"sqlite:///{tmp}/bench.db", market_ticks=0, warmup_polls=600)

        def tick() -> None:
            ctx.clock.advance(1.0)
            cycle.market(ctx)

        market_only = timings_ms(lambda: (ctx.clock.advance(1.0), jobs.market_tick(ctx)), TICKS)
        full = timings_ms(tick, TICKS)
    for name, values in (("sim poll alone (baseline)", poll_only), ("market job (poll+store+paper)", market_only),
                         ("market job + live regime", full)):
        median, p95 = summary(values)
        print(f"{name:32s} median {median:7.2f} ms   p95 {p95:7.2f} ms")
    base = summary(poll_only)[0]
    print(f"ratio full tick / sim poll: {summary(full)[0] / base:.1f}x (median); {TICKS} ticks, 9 symbols, "
          "1 option chain per tick")


if __name__ == "__main__":
    main()
