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
              band (PerformanceMetrics daily_transitions; StabilityConfiguration min/max per day); on real
              S&P 500 daily data (arch), days from the start of known stress episodes to the first High
              volatility class, and the share of High days in the calm year 2017.
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
from engine.regime.replay import replay

STRESS = {"2011 US downgrade": "2011-08-01", "2015 China deval": "2015-08-19", "2016 new-year sell-off": "2016-01-04",
          "2018 Volmageddon": "2018-02-01", "2018 Q4 sell-off": "2018-10-04"}


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
    target = next(r for r in ps.table("PerformanceMetrics") if r.metric == "daily_transitions")
    st = ps.sheet("StabilityConfiguration")
    print(f"simulated minute market: {rep.transitions_per_session:.2f} transitions per session (workbook target "
          f"{target.target}, acceptable {target.acceptable}; StabilityConfiguration {st.min_transitions_per_day}.."
          f"{st.max_transitions_per_day} per day)")


def quality_sp500(ps) -> None:
    import arch.data.sp500

    raw = arch.data.sp500.load().reset_index()
    daily = pd.DataFrame({"timestamp": pd.to_datetime(raw["Date"]).dt.tz_localize("UTC") + pd.Timedelta(hours=21),
                          "open": raw["Open"], "high": raw["High"], "low": raw["Low"], "close": raw["Close"],
                          "volume": raw["Volume"].astype(float)})
    rec = replay(daily, ps)
    rec = rec[~rec["warmup"].astype(bool)]
    ts = pd.to_datetime(rec["timestamp"])
    high = rec["volatility_class_name"].to_numpy() == "High"
    for name, start in STRESS.items():
        from_start = (ts >= pd.Timestamp(start, tz="UTC")).to_numpy()
        first = int(np.argmax(from_start))
        after = np.flatnonzero(from_start & high)
        lag = int(after[0] - first) if len(after) else None
        print(f"S&P 500 {name:24s} ({start}): first High volatility after {lag} trading days"
              if lag is not None else f"S&P 500 {name}: never High")
    calm = (ts.dt.year == 2017).to_numpy()
    print(f"S&P 500 calm year 2017: {high[calm].mean() * 100:.0f}% of days High volatility, "
          f"{(rec['volatility_class_name'].to_numpy()[calm] == 'Low').mean() * 100:.0f}% Low")


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
