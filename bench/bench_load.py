"""Load bench: N browser-like clients against the production layout and the embedded mode, side by side.

Production: `gunicorn app:server -w 4` (gunicorn.conf.py: gthread) + `python -m engine` on a throwaway
PostgreSQL database (127.0.0.1:5432, dropped after) + Redis (db 14, flushed before and after).
Embedded: `python app.py` on a temporary SQLite store. Both run the default simulated market, paper
broker and autotrading, so the engine works while the web is loaded.

Each client logs in as a viewer through POST /login (csrf_token field), then does what the browser does:
loads a page (the HTML, /_dash-layout, /_dash-dependencies, the page-content callback), fires the page's
callbacks once, then the interval callbacks at their real periods (banner: 1 s; Overview: 2 s; Trading:
1 s) with the request bodies built from /_dash-dependencies, echoing the stores the callbacks return
(`overview-chart-shown`, `overview-book-shown`, `trading-fingerprints`, `trading-execution-prints`) like the
renderer does; X-CSRFToken from the `_csrf_token` cookie. Clients alternate between Overview and Trading every
`--visit` seconds. A client is two threads (the banner's interval and the page's), each on its own keep-alive
connection, like a browser's parallel requests; static assets are not fetched (a browser caches them). The
clients are kept cheap (bench/load_client.py: http.client, orjson) and the report prints the CPU this
generator, the web and the engine used during the load, so the server's cost can be told from queueing.

Baselines measured in the same run: a no-op callback of the same app (the banner's kill-switch dialog
toggle answered "closed": the guard and Dash, no store) interleaved with each interval callback on an idle
server (cost ratios), and sent by a probe client during the load. In production the gunicorn workers also
measure each request's own CPU (thread time, bench/wsgi_profile.py; `--no-cpu-per-callback` turns it off), so
the cost ratios are printed by CPU too, idle and under load. The engine is watched from the store: the active
engine's heartbeat age every 0.5 s, and each job's start lateness on its interval grid.

Run: python bench/bench_load.py [--clients 50] [--duration 120] [--modes production,embedded]
"""
from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load_client import (  # noqa: E402
    Browser,
    Recorder,
    call_noop,
    client,
    interval_deps,
    noop_dep,
)
from bench.load_stack import (  # noqa: E402
    Stack,
    _heartbeat_age,
    _stores,
    callback_histogram,
    embedded,
    histogram_quantile,
    job_lateness,
    pct,
    production,
)
from bench.wsgi_profile import read_cpu  # noqa: E402

MAX_DURATION_S = 300.0


# --- one mode ------------------------------------------------------------------------------------
@dataclass
class Result:
    mode: str
    clients: int
    duration_s: float
    samples: dict[str, list[float]]
    errors: dict[str, int]
    error_examples: list[str]
    idle_ratio: dict[str, float]
    idle_noop_ms: float
    heartbeat_ages: list[float]
    jobs: dict[str, dict[str, float]]
    server_ms: tuple[float, float, float]  # the server's own p50/p95/p99 of every callback POST (from /metrics)
    generator_cores: float  # CPU this load generator used, in cores
    process_cores: dict[str, float]  # CPU of the stack's processes (and their children) during the load, in cores
    machine: str  # load average and CPU busy of the whole machine during the load
    retries: int  # requests sent again on a new connection after a stale keep-alive one (as browsers do)
    server_cpu_ms: dict[str, list[float]] = field(default_factory=dict)  # per phase and callback (gunicorn only)


def idle_costs(url: str, rounds: int) -> tuple[dict[str, float], float]:
    """Each interval callback against the no-op, interleaved on the idle server, after the cache is warm."""
    rec = Recorder()
    b = Browser(url, rec)
    b.http.headers["X-Bench-Phase"] = "idle"  # the profiled workers keep the idle and load requests apart
    b.login()
    b.load_page("/")
    deps = interval_deps(b.deps, "overview-interval") + interval_deps(b.deps, "banner-interval") \
        + interval_deps(b.deps, "trading-interval")
    noop = noop_dep(b.deps)
    rec.counting = True
    for n in range(1, rounds + 1):
        call_noop(b, noop)
        for dep in deps:
            b.call(dep, {f"{i['id']}.n_intervals": n for i in dep["inputs"]})
    base = statistics.median(rec.samples["no-op callback (baseline)"])
    return {k: statistics.median(v) / base for k, v in rec.samples.items() if k != "no-op callback (baseline)"}, base


def _cpu_seconds(stack: Stack) -> dict[str, float]:
    """CPU used so far by each process the stack started, its children included (gunicorn's workers, the
    embedded engine)."""
    out: dict[str, float] = {}
    for log, proc in zip(stack.logs, stack.procs, strict=True):
        total = 0.0
        with contextlib.suppress(psutil.Error):
            top = psutil.Process(proc.pid)
            for p in [top, *top.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    t = p.cpu_times()
                    total += t.user + t.system
        out[log.stem] = total
    return out


def run_mode(stack: Stack, clients: int, duration: float, visit_s: float, idle_rounds: int) -> Result:
    print(f"[{stack.mode}] up at {stack.url}; idle cost ratios ({idle_rounds} rounds)…", flush=True)
    idle, idle_noop = idle_costs(stack.url, idle_rounds)
    rec = Recorder()
    stop = threading.Event()
    threads = [threading.Thread(target=client, args=(stack.url, i, rec, stop, visit_s), daemon=True)
               for i in range(clients)]
    for t in threads:
        t.start()
        time.sleep(min(0.05, 2.0 / max(clients, 1)))  # clients arrive over ~2 s, not in one burst
    time.sleep(3.0)  # logins and first page loads are done: count from here
    print(f"[{stack.mode}] {clients} clients for {duration:.0f} s…", flush=True)
    ages: list[float] = []
    probe = Browser(stack.url, rec)
    probe.http.headers["X-Bench-Phase"] = "load"
    probe.login()
    probe.load_page("/")
    noop = noop_dep(probe.deps)
    hist_before = callback_histogram(stack)
    psutil.cpu_percent()
    procs0 = _cpu_seconds(stack)
    cpu0 = time.process_time()
    rec.counting = True
    t_start = datetime.now(UTC)
    t0 = time.monotonic()
    next_probe = next_age = t0
    while time.monotonic() - t0 < duration:
        now = time.monotonic()
        if now >= next_age:
            age = _heartbeat_age(stack)
            if age is not None:
                ages.append(age)
            next_age = now + 0.5
        if now >= next_probe:
            call_noop(probe, noop)
            next_probe = now + 0.25
        time.sleep(0.05)
    rec.counting = False
    measured = time.monotonic() - t0
    cores = (time.process_time() - cpu0) / measured
    procs1 = _cpu_seconds(stack)
    machine = (f"load average {os.getloadavg()[0]:.1f}, {psutil.cpu_percent() / 100 * (os.cpu_count() or 1):.2f} "
               f"of {os.cpu_count()} cores busy")
    hist_after = callback_histogram(stack)
    server = [histogram_quantile(hist_before, hist_after, q) for q in (0.5, 0.95, 0.99)]
    t_end = datetime.now(UTC)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    return Result(stack.mode, clients, measured, dict(rec.samples), dict(rec.errors), rec.error_examples, idle,
                  idle_noop, ages, job_lateness(stack, t_start, t_end), (server[0], server[1], server[2]), cores,
                  {k: (procs1.get(k, 0.0) - v) / measured for k, v in procs0.items()}, machine, rec.retries)


# --- report --------------------------------------------------------------------------------------
INTERVAL_NAMES = ("banner-state", "banner-engine", "overview-equity", "overview-engine", "overview-index-chart",
                  "overview-positions", "trading-state", "trading-stops")


def _fmt(values: list[float]) -> str:
    if not values:
        return f"{'—':>30}"
    return f"{len(values):>7} {pct(values, 0.5):>6.1f} {pct(values, 0.95):>7.1f} {pct(values, 0.99):>7.1f}"


def cpu_report(r: Result) -> None:
    """The web worker's own CPU per callback (thread time: no queueing, no waiting) against the no-op's."""
    for phase in ("idle", "load"):
        cpu = {k.split(" callback ", 1)[1]: v for k, v in r.server_cpu_ms.items() if k.startswith(f"{phase} callback ")}
        base = cpu.get("banner-kill-modal")
        if not base:
            continue
        noop = pct(base, 0.5)
        ratios = ", ".join(f"{k} {pct(cpu[k], 0.5) / noop:.1f}x (p95 {pct(cpu[k], 0.95):.1f} ms)"
                           for k in INTERVAL_NAMES if cpu.get(k))
        print(f"    {phase}: the worker's CPU per callback p50 against the no-op's ({noop:.2f} ms, p95 "
              f"{pct(base, 0.95):.2f} ms): {ratios}")
    load = [v for k, values in r.server_cpu_ms.items() if k.startswith("load ") for v in values]
    if load:
        print(f"    load: requests' own CPU in the workers: mean {statistics.fmean(load):.2f} ms per request, "
              f"{sum(load) / 1000 / r.duration_s:.2f} cores (includes the warm-up and wind-down seconds)")


def report(results: list[Result], goal_p95: float) -> None:
    head = "".join(f" | {r.mode + ' (n, p50, p95, p99 ms)':>30}" for r in results)
    print("\n" + f"{'callback':<40}" + head)
    names = []
    for r in results:
        for k in r.samples:
            if k not in names:
                names.append(k)
    for name in sorted(names, key=lambda k: (k not in INTERVAL_NAMES, k)):
        print(f"{name:<40}" + "".join(f" | {_fmt(r.samples.get(name, [])):>30}" for r in results))
    inter = {r.mode: [v for k in INTERVAL_NAMES for v in r.samples.get(k, [])] for r in results}
    print(f"{'ALL interval callbacks':<40}" + "".join(f" | {_fmt(inter[r.mode]):>30}" for r in results))
    print()
    for r in results:
        total = sum(len(v) for v in r.samples.values())
        errors = sum(r.errors.values())
        print(f"[{r.mode}] {r.clients} clients, {r.duration_s:.0f} s: {total} requests, {total / r.duration_s:.0f} req/s, "
              f"{errors} errors" + (f" ({dict(r.errors)}; e.g. {r.error_examples[:2]})" if errors else ""))
        print(f"    the server's own time per callback POST (request hooks, from /metrics): p50 {r.server_ms[0]:.0f} ms, "
              f"p95 {r.server_ms[1]:.0f} ms, p99 {r.server_ms[2]:.0f} ms; the rest of the client's latency is queueing "
              f"before a worker thread takes the request")
        procs = ", ".join(f"{k} {v:.2f}" for k, v in r.process_cores.items())
        web = sum(v for k, v in r.process_cores.items() if k != "engine")
        print(f"    CPU during the load, in cores: {procs} (web {web * 1000 / max(total / r.duration_s, 1e-9):.1f} ms "
              f"per request); this load generator {r.generator_cores:.2f}; machine: {r.machine}; "
              f"{r.retries} requests resent on a fresh connection")
        noop = r.samples.get("no-op callback (baseline)", [])
        if noop:
            p50 = pct(noop, 0.5)
            ratios = ", ".join(f"{k} {pct(r.samples[k], 0.5) / p50:.1f}x" for k in INTERVAL_NAMES if r.samples.get(k))
            print(f"    under load, p50 against the no-op callback ({p50:.1f} ms): {ratios}")
        cpu_report(r)
        ratios = ", ".join(f"{k} {v:.1f}x" for k, v in sorted(r.idle_ratio.items()))
        print(f"    idle, median against the no-op callback ({r.idle_noop_ms:.1f} ms): {ratios}")
        if r.heartbeat_ages:
            print(f"    engine heartbeat age during the load: p50 {pct(r.heartbeat_ages, 0.5):.2f} s, "
                  f"p99 {pct(r.heartbeat_ages, 0.99):.2f} s, max {max(r.heartbeat_ages):.2f} s "
                  f"({len(r.heartbeat_ages)} reads; stale after 5 s)")
        for job, s in sorted(r.jobs.items()):
            if s.get("in_market"):
                print(f"    step {job:<9} inside each market run: {s['runs']} runs; starts after the market run's "
                      f"start by p50 {s['p50']:.0f} ms, p99 {s['p99']:.0f} ms, max {s['max']:.0f} ms")
                continue
            print(f"    job {job:<10} every {s['period_s']:.2f} s: {s['runs']} runs of ~{s['expected']:.0f}, "
                  f"{s['skipped']} skipped; start lateness p50 {s['p50']:.0f} ms, p99 {s['p99']:.0f} ms, "
                  f"max {s['max']:.0f} ms")
        p95 = pct(inter[r.mode], 0.95)
        market = r.jobs.get("market", {})
        scheduled = {j: s for j, s in r.jobs.items() if not s.get("in_market")}
        worst = max(scheduled.items(), key=lambda kv: kv[1]["p99"], default=("none", {"p99": float("nan")}))
        verdict = [f"errors {'0 ok' if not errors else f'{errors} MISS'}",
                   f"interval p95 {p95:.0f} ms {'ok' if p95 <= goal_p95 else 'MISS'} (goal {goal_p95:.0f})",
                   f"heartbeat max {max(r.heartbeat_ages or [float('nan')]):.1f} s "
                   f"{'ok' if r.heartbeat_ages and max(r.heartbeat_ages) < 5 else 'MISS'} (goal < 5 s)",
                   f"market job lateness p99 {market.get('p99', float('nan')):.0f} ms "
                   f"{'ok' if market and market['p99'] <= 250 else 'MISS'} (goal 250)",
                   f"every scheduled job's lateness p99 <= {worst[1]['p99']:.0f} ms ({worst[0]}) "
                   f"{'ok' if worst[1]['p99'] <= 250 else 'MISS'} (goal 250)"]
        print("    goals: " + "; ".join(verdict))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=120.0, help=f"seconds per mode (at most {MAX_DURATION_S:.0f})")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--visit", type=float, default=30.0, help="seconds on a page before switching")
    parser.add_argument("--idle-rounds", type=int, default=40)
    parser.add_argument("--modes", default="production,embedded")
    parser.add_argument("--goal-p95-ms", type=float, default=200.0)
    parser.add_argument("--no-cpu-per-callback", action="store_true",
                        help="gunicorn workers without the per-request CPU measurement (bench/wsgi_profile.py)")
    args = parser.parse_args(argv)
    duration = min(max(args.duration, 5.0), MAX_DURATION_S)
    results = []
    with tempfile.TemporaryDirectory(prefix="regimedesk-load-") as tmp_name:
        for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
            tmp = Path(tmp_name) / mode
            tmp.mkdir()
            stack = production(args.workers, tmp, args.threads, profile=not args.no_cpu_per_callback) \
                if mode == "production" else embedded(tmp)
            try:
                results.append(run_mode(stack, args.clients, duration, args.visit, args.idle_rounds))
            finally:
                for store in list(_stores.values()):
                    store.dispose()
                _stores.clear()
                stack.stop()  # profiled gunicorn workers write their CPU per request as they exit
            if stack.profile_dir is not None:
                results[-1].server_cpu_ms = read_cpu(stack.profile_dir)
    print(f"\nRegimeDesk load bench: {args.clients} clients, {duration:.0f} s per mode; production = gunicorn -w "
          f"{args.workers} (gthread, {args.threads} threads) + python -m engine on PostgreSQL + Redis; embedded = python app.py on SQLite; "
          f"{os.cpu_count()} CPUs shared by the server processes and this load generator")
    report(results, args.goal_p95_ms)
    return 0


if __name__ == "__main__":
    sys.exit(main())
