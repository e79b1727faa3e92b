"""Memory of a running `python -m engine` with the ensemble's models loaded, against the same engine without them.

PerformanceMetrics memory_usage (goal <= 500 MB) is about the engine, so this measures the engine process
itself (RSS, psutil), not a bench process that also holds a year of generated bars. Two engines run one
after the other on fresh SQLite stores with the default simulated market, paper broker and autotrading:

  baseline:  EnsembleMethods ensemble_enabled = FALSE (the rule-based classifier alone)
  ensemble:  the workbook's defaults (HMM, GMM, random forest, gradient boosting; calibration on)

Both run at once until the ensemble engine's regime_models job has stored its first model, then `--hold`
seconds more, RSS sampled every 0.25-0.5 s (the refit runs inside the engine, so its peak is in the
figures). Printed: peak and last RSS of each, and the ratio.

Run: python -m bench.bench_engine_memory [--warmup-polls 6000] [--hold 60]
"""
from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from sqlalchemy import func, select

from engine.params import default_params
from engine.params.paramset import ParamSet
from engine.params.versions import apply_version
from engine.settings import PROJECT_ROOT
from engine.store.migrate import open_store
from engine.store.models import EnsembleModelRow

GOAL_MB = 500.0
WAIT_FOR_MODEL_S = 600.0


def _without_ensemble() -> ParamSet:
    canonical = default_params().to_canonical()
    ps = default_params()
    section = ps.schema.kv_index["EnsembleMethods"]["ensemble_enabled"][0]
    canonical["sheets"]["EnsembleMethods"][section]["ensemble_enabled"] = False
    return ParamSet.from_canonical(canonical)


def _models(url: str) -> int:
    store = open_store(url)
    try:
        with store.read() as s:
            return int(s.scalar(select(func.count()).select_from(EnsembleModelRow)) or 0)
    finally:
        store.dispose()


class Engine:
    """One `python -m engine` on a fresh SQLite store, its RSS sampled."""

    def __init__(self, label: str, params: ParamSet, warmup_polls: int) -> None:
        self.label = label
        self.root = Path(tempfile.mkdtemp(prefix=f"regimedesk-mem-{label}-"))
        self.url = f"sqlite:///{self.root}/store.db"
        store = open_store(self.url, migrate=True)
        apply_version(store, params, "bench", "cli")
        store.dispose()
        env = {**os.environ, "REGIMEDESK_DATABASE_URL": self.url, "REGIMEDESK_WARMUP_POLLS": str(warmup_polls),
               "REGIMEDESK_LOG_LEVEL": "WARNING"}
        with open(self.root / "engine.log", "wb") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "engine"], cwd=PROJECT_ROOT, env=env, stdout=log,
                                         stderr=subprocess.STDOUT)
        self.ps = psutil.Process(self.proc.pid)
        self.peak = self.last = self.child_peak = 0.0

    def sample(self) -> None:
        assert self.proc.poll() is None, (self.root / "engine.log").read_text()[-2000:]
        self.last = self.ps.memory_info().rss / 1e6
        self.peak = max(self.peak, self.last)
        for child in self.ps.children(recursive=True):  # the refit's child process, while it runs
            with contextlib.suppress(psutil.NoSuchProcess):
                self.child_peak = max(self.child_peak, child.memory_info().rss / 1e6)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--warmup-polls", type=int, default=6000, help="bars stored at once, so a refit has history")
    ap.add_argument("--hold", type=float, default=60.0, help="seconds sampled after the first model")
    a = ap.parse_args()
    # both at once, so they see the same time and machine; the ensemble's first refit runs after the
    # regime_models job's first period (engine/scheduler.py REGIME_MODELS_SECONDS)
    ens = Engine("ensemble", default_params(), a.warmup_polls)
    base = Engine("baseline", _without_ensemble(), a.warmup_polls)
    started = time.monotonic()
    try:
        while _models(ens.url) == 0:
            assert time.monotonic() - started < WAIT_FOR_MODEL_S, "no model stored within the wait"
            ens.sample()
            base.sample()
            time.sleep(0.5)
        waited = time.monotonic() - started
        end = time.monotonic() + a.hold
        while time.monotonic() < end:
            ens.sample()
            base.sample()
            time.sleep(0.25)
    finally:
        ens.stop()
        base.stop()
    for e in (ens, base):
        print(f"{e.label:9s}: engine RSS peak {e.peak:6.0f} MB, last {e.last:6.0f} MB; its refit child process peak "
              f"{e.child_peak:4.0f} MB (a short-lived process of its own, gone after each refit)")
    verdict = "OK" if ens.peak <= GOAL_MB else "MISSED"
    print(f"first model stored after {waited:.0f} s, then {a.hold:.0f} s sampled; ensemble / baseline: peak "
          f"{ens.peak / base.peak:.2f}x, last {ens.last / base.last:.2f}x; the models cost {ens.peak - base.peak:+.0f} MB "
          f"at peak; goal peak <= {GOAL_MB:.0f} MB: {verdict}")
    print(f"(machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
