"""Where a web worker's CPU goes per interval callback: the production layout (gunicorn + engine on
PostgreSQL + Redis, as bench_load.py starts it) with each worker's requests measured (bench/wsgi_profile.py,
switched on by REGIMEDESK_PROFILE_DIR), driven by one browser-like client in turn: the no-op callback,
the banner's, the Overview's and the Trading page's interval callbacks, with the stores echoed like the
renderer does (so the steady state: mostly nothing changed).

Prints per callback the worker's CPU per request (median, p95) and wall time, and with --cprofile the
functions with the most cumulative time in each.

Run: python bench/profile_callbacks.py [--rounds 200] [--cprofile] [--top 25]
"""
from __future__ import annotations

import argparse
import json
import pstats
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load_client import Browser, Recorder, call_noop, interval_deps, noop_dep  # noqa: E402
from bench.load_stack import _stores, pct, production  # noqa: E402

INTERVALS = ("banner-interval", "overview-interval", "trading-interval")


def drive(url: str, rounds: int, period_s: float) -> None:
    """One client: each round the no-op and every interval callback once (pages loaded like a browser)."""
    rec = Recorder()
    b = Browser(url, rec)
    b.login()
    b.load_page("/")
    overview = interval_deps(b.deps, "overview-interval")
    banner = interval_deps(b.deps, "banner-interval")
    noop = noop_dep(b.deps)
    b.load_page("/trading")  # the stores of both pages are echoed from here on (the Browser keeps them)
    trading = interval_deps(b.deps, "trading-interval")
    for n in range(1, rounds + 1):
        call_noop(b, noop)
        for dep in banner + overview + trading:
            b.call(dep, {f"{i['id']}.n_intervals": n for i in dep["inputs"]})
        time.sleep(period_s)


def report(out: Path, top: int) -> None:
    cpu: dict[str, list[float]] = defaultdict(list)
    wall: dict[str, list[float]] = defaultdict(list)
    profiles: dict[str, list[Path]] = defaultdict(list)
    for path in sorted(out.glob("*.json")):
        data = json.loads(path.read_text())
        for key, values in data["cpu_ms"].items():
            cpu[key] += values
            wall[key] += data["wall_ms"][key]
        for key, name in data["profiles"].items():
            profiles[key].append(out / name)
    base = statistics.median(cpu.get("callback banner-kill-modal", [float("nan")]))
    print(f"\n{'request':<44} {'n':>6} {'cpu p50':>8} {'cpu p95':>8} {'wall p50':>9} {'x no-op':>8}")
    for key in sorted(cpu, key=lambda k: -statistics.median(cpu[k])):
        c = cpu[key]
        print(f"{key:<44} {len(c):>6} {pct(c, 0.5):>8.2f} {pct(c, 0.95):>8.2f} {pct(wall[key], 0.5):>9.2f} "
              f"{pct(c, 0.5) / base:>8.1f}")
    for key, paths in sorted(profiles.items()):
        if not key.startswith("callback"):
            continue
        stats = pstats.Stats(*(str(p) for p in paths))
        print(f"\n==== {key}: {len(cpu[key])} requests, cumulative time over all of them ====")
        stats.sort_stats("cumulative").print_stats(top)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--period", type=float, default=0.05, help="pause between rounds (s)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="regimedesk-profile-") as tmp_name:
        tmp = Path(tmp_name)
        out = tmp / "profiles"
        extra = {"REGIMEDESK_PROFILE_DIR": str(out), "REGIMEDESK_PROFILE_CPROFILE": "1" if args.cprofile else "0"}
        stack = production(args.workers, tmp, extra_env=extra)
        try:
            drive(stack.url, args.rounds, args.period)
        finally:
            for store in list(_stores.values()):
                store.dispose()
            _stores.clear()
            stack.stop()  # the workers write their figures as they exit
        report(out, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
