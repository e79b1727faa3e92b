"""The load bench's processes (bench/bench_load.py): the production layout and the embedded mode started on
throwaway stores, and what the bench reads about them (the engine's heartbeat and job lateness from the store,
the web's callback timing from /metrics)."""
from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from bench.load_client import PASSWORD, VIEWER

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = os.environ.get("REGIMEDESK_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = "redis://127.0.0.1:6379/14"
METRICS_TOKEN = secrets.token_urlsafe(32)
CALLBACK_ROUTE = 'route="/_dash-update-component"'


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


def _store(stack: Stack) -> Any:
    from engine.store.db import Store  # local import: the engine's code loads only when a store is read

    if stack.database_url not in _stores:
        _stores[stack.database_url] = Store(stack.database_url)
    return _stores[stack.database_url]


def _utc(ts: datetime) -> datetime:
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


def _heartbeat_age(stack: Stack) -> float | None:
    from sqlalchemy import func, select

    from engine.store.models import EngineHeartbeat  # local import: as in _store

    try:
        with _store(stack).read() as s:
            beat = s.scalar(select(func.max(EngineHeartbeat.last_beat)).where(EngineHeartbeat.status == "active"))
    except Exception:  # noqa: BLE001 - a store not migrated yet
        return None
    return None if beat is None else (datetime.now(UTC) - _utc(beat)).total_seconds()


IN_MARKET_JOB = frozenset({"execution"})  # recorded steps the market job runs after each tick (engine/cycle.py)


def job_lateness(stack: Stack, start: datetime, end: datetime) -> dict[str, dict[str, float]]:
    """Per job: runs, runs expected, and start lateness on its interval grid (ms): p50, p99, max. A step run
    inside the market job (IN_MARKET_JOB) has no grid: its figures are its start after that market run's start,
    i.e. how long the tick's market and regime work took before it."""
    from sqlalchemy import select

    from engine.store.models import JobRun  # local import: as in _store

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
    markets = sorted(starts.get("market", []))
    for job, times in starts.items():
        times.sort()
        if len(times) < 3:
            continue
        if job in IN_MARKET_JOB and markets:  # no grid of its own: its start after the market run's start
            after = [(t - max((m for m in markets if m <= t), default=t)) * 1000.0 for t in times]
            out[job] = {"period_s": statistics.median(b - a for a, b in zip(times, times[1:], strict=False)),
                        "runs": len(times), "expected": (end - start).total_seconds(), "p50": pct(after, 0.5),
                        "p99": pct(after, 0.99), "max": max(after), "skipped": skipped[job], "in_market": 1.0}
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
