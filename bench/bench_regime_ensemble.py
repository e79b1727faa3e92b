"""Regime ensemble figures, each against a baseline measured in the same run.

Run: python -m bench.bench_regime_ensemble [--minutes 100000] [--cycles 200]
  live cycle: the rule-based classifier's update alone vs the same update plus the ensemble's step (model
              fitted on the history before the timed bars) -> median / p95 and ratio (goal <= 100 ms,
              PerformanceMetrics computation_time).
  refit:      replay of N 1-minute bars (the labels) and the fit of the four models on them (rows capped at
              MAX_FIT_ROWS); the replay alone is the baseline.
  memory:     RSS of this bench process (which also holds the generated bars) with the classifier and the model
              loaded vs before, and the model's stored size. The engine's own memory against PerformanceMetrics
              memory_usage (goal <= 500 MB) is measured on a running engine by bench/bench_engine_memory.py.
  quality:    rule-based transitions per session on the simulated minute market against the workbook's
              band (PerformanceMetrics daily_transitions); on real S&P 500 daily data (arch), the stress
              episodes and calm years of engine/regime/quality_daily.py (as bench_regime_quality).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import psutil

from bench._util import summary
from engine.market.simulated import SimulatedMarket
from engine.params import default_params
from engine.regime.classifier import RegimeClassifier
from engine.regime.ensemble import store
from engine.regime.ensemble.config import CalibrationConfig, EnsembleConfig
from engine.regime.ensemble.features import frame_from_records, matrix, row_of
from engine.regime.ensemble.models import MAX_FIT_ROWS, fit_ensemble
from engine.regime.ensemble.stepper import EnsembleStepper
from engine.regime.quality import score
from engine.regime.quality_daily import daily_frame, measure, transitions_band
from engine.regime.replay import replay


def rss_mb() -> float:
    return psutil.Process(os.getpid()).memory_info().rss / 1e6


def live_and_memory(ps, idx: pd.DataFrame, train: int, cycles: int) -> None:
    mem0 = rss_mb()
    rec = replay(idx.iloc[:train], ps)
    frame = frame_from_records(rec)
    cfg = EnsembleConfig.of(ps)
    model = fit_ensemble(matrix(frame), frame["label"].to_numpy(), frame["ts"].to_numpy(), cfg.regime_ids)
    blob = store.dumps(model)
    model = store.loads(blob)  # the engine's path: the stored bytes
    clf = RegimeClassifier(ps, "IDX")
    warm = clf.update_many(idx.iloc[:train])
    stepper = EnsembleStepper(cfg, CalibrationConfig.of(ps))
    for o in warm:
        if not o.warmup:
            stepper.observe(row_of(o))
    stepper.set_model(model, 1)
    mem1 = rss_mb()
    rules, both = [], []
    for k in range(train, train + cycles):
        row = idx.iloc[k:k + 1]
        t0 = time.perf_counter()
        out = clf.update(row)
        t1 = time.perf_counter()
        stepper.step(row_of(out))
        t2 = time.perf_counter()
        rules.append((t1 - t0) * 1e3)
        both.append((t2 - t0) * 1e3)
    (rm, rp), (bm, bp) = summary(rules), summary(both)
    print(f"live cycle rule-based      : median {rm:6.2f} ms, p95 {rp:6.2f} ms")
    print(f"live cycle with ensemble   : median {bm:6.2f} ms, p95 {bp:6.2f} ms  ratio {bm / rm:.1f}x "
          f"(goal <= 100 ms)")
    print(f"memory of this bench process: {mem0:.0f} MB before, {mem1:.0f} MB with classifier + model loaded, "
          f"{rss_mb():.0f} MB after the cycles; stored model {len(blob) / 1e6:.1f} MB (the engine's own: "
          f"python -m bench.bench_engine_memory)")


def refit(ps, idx: pd.DataFrame) -> pd.DataFrame:
    t0 = time.perf_counter()
    rec = replay(idx, ps)
    t1 = time.perf_counter()
    frame = frame_from_records(rec)
    cfg = EnsembleConfig.of(ps)
    model = fit_ensemble(matrix(frame), frame["label"].to_numpy(), frame["ts"].to_numpy(), cfg.regime_ids)
    t2 = time.perf_counter()
    print(f"refit on {len(idx):,} minute bars: replay (labels) {t1 - t0:.1f} s [baseline], fit {t2 - t1:.1f} s "
          f"({min(len(frame), MAX_FIT_ROWS):,} rows fitted; ratio fit/replay {(t2 - t1) / (t1 - t0):.2f}); "
          f"training agreement " + ", ".join(f"{k} {v:.2f}" for k, v in model.train_agreement.items()))
    return rec


def quality_minutes(ps, rec: pd.DataFrame, truth: pd.DataFrame) -> None:
    rep = score(rec, truth, ps)
    lo, target, hi = transitions_band(ps)
    print(f"simulated minute market (seed 7, {rep.bars:,} minutes): {rep.transitions_per_session:.2f} transitions per "
          f"session (PerformanceMetrics daily_transitions target {target:g}, band {lo:g}-{hi:g})")


def quality_sp500(ps) -> None:
    """The stress episodes and calm years of engine/regime/quality_daily.py (the same measure as the tests and
    bench_regime_quality: one definition of an episode's start)."""
    import arch.data.sp500  # local import: dev-only dependency (ships the real S&P 500 daily bars)

    print("S&P 500 daily:\n  " + "\n  ".join(measure(daily_frame(arch.data.sp500.load()), ps).lines()))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=int, default=100_000)
    ap.add_argument("--cycles", type=int, default=200)
    a = ap.parse_args()
    ps = default_params()
    bars, truth = SimulatedMarket(seed=7, start=datetime(2026, 1, 5, 3, 45, tzinfo=UTC)).history(a.minutes)
    idx = bars[bars["symbol"] == "IDX"].rename(columns={"ts": "timestamp"}).reset_index(drop=True)
    live_and_memory(ps, idx, min(10_000, a.minutes // 2), a.cycles)
    rec = refit(ps, idx)
    quality_minutes(ps, rec, truth)
    quality_sp500(ps)
    print(f"(machine load average {np.mean(os.getloadavg()):.1f} on {os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
