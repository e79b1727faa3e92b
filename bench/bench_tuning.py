"""Self-tuning figures (issue 16): one seeded tuning run on simulated one-minute bars (trials, wall time, the
out-of-sample BACKTEST validation's time and the out-of-sample gain), and the live scorecard's cost against
an engine market tick measured in the same run.

The tuning run: trials are regime replays of the index over the in-sample bars; the best candidate and the
current version are then backtested (the engine's own jobs, every simulated symbol, the default planner
preset) on each out-of-sample fold, at most --fold-bars traded bars per fold (engine/tuning/
backtest_validation.py). Defaults keep the run under a minute on 2 shared cores: --days 1 (1,440 minutes
of the 24-hour simulated market), --trials 10, --folds 2, --fold-bars 30.
The issue's full size, a year of minute bars (525,600 minutes; 105,120 held out):
  python -m bench.bench_tuning --days 365 --trials 20 --folds 10 --fold-bars 120
(each trial replays ~420,000 in-sample bars, ~10 s; the validation backtests 2 x 10 x 120 bars, ~140 s; the
whole run took 343 s on 2 shared cores on 2026-12-03).
The scorecard runs in the tuning job (every minute), not in the market tick; its cost is printed per run and
per market tick it covers (a 1-second tick: 60 ticks a minute).
Run: python -m bench.bench_tuning [--days N] [--trials N] [--folds N] [--fold-bars N] [--no-scorecard]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._util import summary, timings_ms  # noqa: E402
from engine.backtest.inputs import preset_by_name  # noqa: E402
from engine.market.simulated import SimulatedMarket  # noqa: E402
from engine.params.paramset import default_params  # noqa: E402
from engine.tuning.backtest_validation import BacktestSetup  # noqa: E402
from engine.tuning.edit import edited  # noqa: E402
from engine.tuning.live import store_scorecard  # noqa: E402
from engine.tuning.tuner import tune  # noqa: E402
from tests.engine_run import warmed_engine  # noqa: E402

TICKS = 100
FOLDS = ("ValidationFramework", "main", "cross_validation_folds")


def tuning_run(days: int, trials: int, folds: int, fold_bars: int) -> None:
    market = SimulatedMarket(seed=7)
    bars, truth = market.history(days * 1440)
    bars = bars.rename(columns={"ts": "timestamp"})
    cols = ["timestamp", "open", "high", "low", "close", "volume"]
    frames = {str(s): g[cols].reset_index(drop=True) for s, g in bars.groupby("symbol", sort=True)}
    idx = frames[market.index_symbol()]
    setup = BacktestSetup(frames, market.index_symbol(), preset_by_name("default"), max_fold_bars=fold_bars)
    params = edited(default_params(), {FOLDS: folds})
    t0 = time.perf_counter()
    r = tune(params, idx, truth, trials=trials, seed=1, symbol=market.index_symbol(), backtest=setup)
    wall = time.perf_counter() - t0
    v = r.validation
    traded = int(v.folds["bars"].sum()) * 2 if len(v.folds) else 0
    print(f"tuning run: {len(idx):,} one-minute bars x {len(frames)} symbols ({days} day(s) of the 24-hour simulated "
          f"market), {r.trials} trials, wall {wall:.1f} s")
    print(f"  trials (regime replays, in-sample): {wall - r.validation_seconds:.1f} s "
          f"({(wall - r.validation_seconds) / r.trials:.2f} s per trial); objective {r.in_sample_current:.4f} -> "
          f"{r.in_sample_candidate:.4f}")
    print(f"  backtest validation (out of sample): {r.validation_seconds:.1f} s for {len(v.folds)} folds x 2 versions, "
          f"{traded} traded bars ({traded / max(r.validation_seconds, 1e-9):.1f} bars/s incl. set-up)")
    print(f"  out-of-sample gain ({v.measure}) {v.gain:+.2%}; beats the 5% target: {r.beats}; "
          f"changes: {'; '.join(c.text() for c in r.changes) or 'none'}")


def scorecard_cost() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ctx, cycle = warmed_engine(f"sqlite:///{tmp}/bench.db", market_ticks=0, warmup_polls=600)

        def tick() -> None:
            ctx.clock.advance(1.0)
            cycle.market(ctx)

        ticks = timings_ms(tick, TICKS)
        cards = timings_ms(lambda: store_scorecard(ctx), 10, warmup=1)
        ctx.store.dispose()
    tick_med, tick_p95 = summary(ticks)
    card_med, card_p95 = summary(cards)
    print(f"market tick (baseline)   median {tick_med:8.2f} ms   p95 {tick_p95:8.2f} ms   ({TICKS} ticks)")
    print(f"scorecard (tuning job)   median {card_med:8.2f} ms   p95 {card_p95:8.2f} ms   (10 runs)")
    print(f"scorecard per market tick at one run a minute (60 ticks): {card_med / 60:.2f} ms = "
          f"{card_med / 60 / tick_med:.1%} of a tick; one scorecard = {card_med / tick_med:.1f} ticks")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=1)
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--folds", type=int, default=2)
    ap.add_argument("--fold-bars", type=int, default=30)
    ap.add_argument("--no-scorecard", action="store_true", help="skip the scorecard cost")
    a = ap.parse_args()
    if not a.no_scorecard:
        scorecard_cost()
    tuning_run(a.days, a.trials, a.folds, a.fold_bars)
