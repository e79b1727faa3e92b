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
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load_client import (  # noqa: E402
    PASSWORD,
    VIEWER,
    Browser,
    Recorder,
    call_noop,
    client,
    interval_deps,
    noop_dep,
)
from bench.wsgi_profile import read_cpu  # noqa: E402

PG_ADMIN = os.environ.get("REGIMEDESK_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = "redis://127.0.0.1:6379/14"
METRICS_TOKEN = secrets.token_urlsafe(32)
CALLBACK_ROUTE = 'route="/_dash-update-component"'
MAX_DURATION_S = 300.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


# --- the processes -------------------------------------------------------------------------------
@dataclass
class Stack:
    mode: str
    url: str
    database_url: str
    env: dict[str, str]
    procs: list[subprocess.Popen] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)
    cleanup: list[Any] = field(default_factory=list)
    profile_dir: Path | None = None  # where the profiled gunicorn workers write their CPU per request

    def start(self, name: str, argv: list[str], tmp: Path) -> subprocess.Popen:
        log = tmp / f"{name}.log"
        self.logs.append(log)
        proc = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        for fn in reversed(self.cleanup):
            fn()


def _cli(env: dict[str, str], *args: str, stdin: str | None = None) -> None:
    subprocess.run([sys.executable, "-m", "engine", *args], cwd=ROOT, env=env, input=stdin, text=True, check=True,
                   timeout=180, capture_output=True)


def _wait_up(stack: Stack, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dead = [p for p in stack.procs if p.poll() is not None]
        if dead:
            raise RuntimeError(f"{stack.mode}: a process exited: " + " | ".join(p.read_text()[-1500:] for p in stack.logs))
        try:
            if requests.get(stack.url + "/healthz", timeout=2).status_code == 200 and _heartbeat_age(stack) is not None:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{stack.mode}: not up in {timeout} s")


def _base_env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGIMEDESK_")}
    env.update({"REGIMEDESK_DATABASE_URL": database_url, "REGIMEDESK_LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1",
                "REGIMEDESK_METRICS_TOKEN": METRICS_TOKEN})
    return env


def production(workers: int, tmp: Path, threads: int = 4, extra_env: dict[str, str] | None = None,
               profile: bool = True) -> Stack:
    import psycopg
    import redis

    name = f"regimedesk_bench_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3)
    admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    r = redis.Redis.from_url(REDIS_URL)
    r.flushdb()
    port = free_port()
    env = _base_env(url)
    env.update({"REGIMEDESK_ENGINE_MODE": "none", "REGIMEDESK_CACHE_URL": REDIS_URL,
                "REGIMEDESK_SECRET_KEY": secrets.token_urlsafe(48), "REGIMEDESK_BIND": f"127.0.0.1:{port}",
                "PROMETHEUS_MULTIPROC_DIR": str(tmp / "prometheus"),  # /metrics sums every worker
                "REGIMEDESK_WEB_THREADS": str(threads)})  # gunicorn.conf.py: threads per gthread worker
    if profile:
        env["REGIMEDESK_PROFILE_DIR"] = str(tmp / "cpu")  # each request's CPU in the worker (bench/wsgi_profile.py)
    env.update(extra_env or {})
    (tmp / "prometheus").mkdir()
    stack = Stack("production", f"http://127.0.0.1:{port}", url, env)

    def drop() -> None:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
        r.flushdb()

    stack.cleanup.append(drop)
    try:
        _cli(env, "migrate")
        _cli(env, "users", "add", VIEWER, "--role", "viewer", "--password-stdin", stdin=PASSWORD + "\n")
        stack.start("engine", [sys.executable, "-m", "engine"], tmp)
        stack.start("gunicorn", [sys.executable, "-m", "gunicorn", "app:server", "-w", str(workers)], tmp)
        stack.profile_dir = Path(env["REGIMEDESK_PROFILE_DIR"]) if env.get("REGIMEDESK_PROFILE_DIR") else None
        _wait_up(stack)
    except BaseException:
        stack.stop()
        raise
    return stack


def embedded(tmp: Path) -> Stack:
    url = f"sqlite:///{tmp / 'embedded.db'}"
    port = free_port()
    env = _base_env(url)
    env.update({"REGIMEDESK_ENGINE_MODE": "embedded", "REGIMEDESK_PORT": str(port)})
    stack = Stack("embedded", f"http://127.0.0.1:{port}", url, env)
    try:
        _cli(env, "migrate")
        _cli(env, "users", "add", VIEWER, "--role", "viewer", "--password-stdin", stdin=PASSWORD + "\n")
        stack.start("app", [sys.executable, "app.py"], tmp)
        _wait_up(stack)
    except BaseException:
        stack.stop()
        raise
    return stack


# --- the engine, seen from the store -------------------------------------------------------------
_stores: dict[str, Any] = {}


def _store(stack: Stack):  # type: ignore[no-untyped-def]
    from engine.store.db import Store

    if stack.database_url not in _stores:
        _stores[stack.database_url] = Store(stack.database_url)
    return _stores[stack.database_url]


def _utc(ts: datetime) -> datetime:
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


def _heartbeat_age(stack: Stack) -> float | None:
    from sqlalchemy import func, select

    from engine.store.models import EngineHeartbeat

    try:
        with _store(stack).read() as s:
            beat = s.scalar(select(func.max(EngineHeartbeat.last_beat)).where(EngineHeartbeat.status == "active"))
    except Exception:  # noqa: BLE001 - a store not migrated yet
        return None
    return None if beat is None else (datetime.now(UTC) - _utc(beat)).total_seconds()


def job_lateness(stack: Stack, start: datetime, end: datetime) -> dict[str, dict[str, float]]:
    """Per job: runs, runs expected, and start lateness on its interval grid (ms): p50, p99, max."""
    from sqlalchemy import select

    from engine.store.models import JobRun

    with _store(stack).read() as s:
        rows = s.execute(select(JobRun.job, JobRun.started_at, JobRun.outcome)
                         .where(JobRun.started_at >= start, JobRun.started_at <= end)).all()
    starts: dict[str, list[float]] = defaultdict(list)
    skipped: dict[str, int] = defaultdict(int)
    for job, ts, outcome in rows:
        if outcome == "skipped":
            skipped[job] += 1
        else:
            starts[job].append(_utc(ts).timestamp())
    out = {}
    for job, times in starts.items():
        times.sort()
        if len(times) < 3:
            continue
        period = statistics.median(b - a for a, b in zip(times, times[1:], strict=False))
        if period <= 0:
            continue
        offsets = [t - times[0] - round((t - times[0]) / period) * period for t in times]
        base = min(offsets)
        late = [(o - base) * 1000.0 for o in offsets]
        out[job] = {"period_s": period, "runs": len(times), "expected": (end - start).total_seconds() / period,
                    "p50": pct(late, 0.5), "p99": pct(late, 0.99), "max": max(late), "skipped": skipped[job]}
    return out


def callback_histogram(stack: Stack) -> dict[float, float]:
    """Cumulative bucket counts of the server's own timing of POST /_dash-update-component (from /metrics)."""
    text = requests.get(stack.url + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=30).text
    out: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith("regimedesk_http_request_duration_seconds_bucket") and CALLBACK_ROUTE in line \
                and 'method="POST"' in line:
            le = re.search(r'le="([^"]+)"', line).group(1)  # type: ignore[union-attr]
            bound = float("inf") if le == "+Inf" else float(le)
            out[bound] = out.get(bound, 0.0) + float(line.rsplit(" ", 1)[1])  # summed over workers (multiprocess)
    return out


def histogram_quantile(before: dict[float, float], after: dict[float, float], q: float) -> float:
    """Prometheus-style quantile (linear inside a bucket) of the requests between two scrapes, in ms."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1] if counts else 0.0
    if total <= 0:
        return float("nan")
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, cum in zip(bounds, counts, strict=True):
        if cum >= rank:
            if bound == float("inf"):
                return lower * 1000.0
            return (lower + (bound - lower) * (rank - below) / max(cum - below, 1e-9)) * 1000.0
        lower, below = bound, cum
    return float("nan")


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
            print(f"    job {job:<10} every {s['period_s']:.2f} s: {s['runs']} runs of ~{s['expected']:.0f}, "
                  f"{s['skipped']} skipped; start lateness p50 {s['p50']:.0f} ms, p99 {s['p99']:.0f} ms, "
                  f"max {s['max']:.0f} ms")
        p95 = pct(inter[r.mode], 0.95)
        market = r.jobs.get("market", {})
        verdict = [f"errors {'0 ok' if not errors else f'{errors} MISS'}",
                   f"interval p95 {p95:.0f} ms {'ok' if p95 <= goal_p95 else 'MISS'} (goal {goal_p95:.0f})",
                   f"heartbeat max {max(r.heartbeat_ages or [float('nan')]):.1f} s "
                   f"{'ok' if r.heartbeat_ages and max(r.heartbeat_ages) < 5 else 'MISS'} (goal < 5 s)",
                   f"market job lateness p99 {market.get('p99', float('nan')):.0f} ms "
                   f"{'ok' if market and market['p99'] <= 250 else 'MISS'} (goal 250)"]
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
