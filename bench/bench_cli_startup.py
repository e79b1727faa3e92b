"""Start-up time of the command-line tools an operator reaches for when the web is unreachable, against a bare
interpreter that only imports SQLAlchemy (the store's library, which every tool needs) in the same run.

Run: python -m bench.bench_cli_startup [--runs 5]
  `python -m engine status` (the trading state, the kill switch's own CLI path: `halt` loads the same modules)
  and `python -m engine users list`, each on a fresh migrated SQLite store; medians of --runs starts each.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def median_start(args: list[str], env: dict[str, str], runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, check=True, timeout=120)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "REGIMEDESK_DATABASE_URL": f"sqlite:///{Path(tmp) / 'desk.db'}"}
        subprocess.run([sys.executable, "-m", "engine", "migrate"], cwd=ROOT, env=env, capture_output=True,
                       check=True, timeout=120)
        base = median_start(["-c", "import sqlalchemy.orm"], env, runs)
        print(f"baseline (python -c 'import sqlalchemy.orm'): {base:.2f} s")
        for args in (["-m", "engine", "status"], ["-m", "engine", "users", "list"]):
            took = median_start(args, env, runs)
            print(f"python {' '.join(args)}: {took:.2f} s = {took / base:.1f}x the baseline (median of {runs})")


if __name__ == "__main__":
    main()
