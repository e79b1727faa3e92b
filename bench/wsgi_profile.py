"""Profiling only: a WSGI wrapper that measures each request's CPU in the web worker, per callback.

Switched on by REGIMEDESK_PROFILE_DIR (gunicorn.conf.py wraps each worker's app with it); never in
production. Per request key ("callback <first output id>" or "<method> <path>", after the X-Bench-Phase header) it records the
thread's CPU time and wall time, and with REGIMEDESK_PROFILE_CPROFILE=1 a cProfile of the request
(the thread that serves it only; gthread workers serve each request on one thread). When the worker
exits it writes `<dir>/<pid>.json` (times) and `<dir>/<pid>-<n>.prof` (pstats, one per key).
"""
from __future__ import annotations

import cProfile
import io
import json
import os
import pstats
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

CALLBACK_PATH = "/_dash-update-component"
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def request_key(environ: dict[str, Any], body: bytes) -> str:
    """What a request is, for grouping: a callback by its first output id, anything else by method and path."""
    path = environ.get("PATH_INFO", "")
    phase = environ.get("HTTP_X_BENCH_PHASE", "")  # the load bench tells its idle and load phases apart
    phase = f"{phase[:20]} " if phase else ""
    if path != CALLBACK_PATH:
        return f"{phase}{environ.get('REQUEST_METHOD', '?')} {path}"
    try:
        output = json.loads(body).get("output", "")
    except (ValueError, AttributeError):
        return f"{phase}POST callback ?"
    first = output[2:].split("...")[0] if output.startswith("..") else output
    return f"{phase}callback " + first.rsplit(".", 1)[0].split("@")[0]


class ProfiledApp:
    """Wraps a WSGI app: per key, every request's CPU and wall milliseconds (and optionally its cProfile)."""

    def __init__(self, app: WsgiApp, out_dir: Path, cprofile: bool) -> None:
        self.app = app
        self.out_dir = out_dir
        self.cprofile = cprofile
        self.lock = threading.Lock()
        self.cpu_ms: dict[str, list[float]] = defaultdict(list)
        self.wall_ms: dict[str, list[float]] = defaultdict(list)
        self.stats: dict[str, pstats.Stats] = {}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        key = request_key(environ, body)
        profile = cProfile.Profile() if self.cprofile else None
        c0, w0 = time.thread_time(), time.perf_counter()
        if profile is not None:
            profile.enable()
        try:
            result = self.app(environ, start_response)
            try:
                chunks = list(result)  # the body is produced (serialised) inside the measurement
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        finally:
            if profile is not None:
                profile.disable()
            cpu, wall = (time.thread_time() - c0) * 1000.0, (time.perf_counter() - w0) * 1000.0
            with self.lock:
                self.cpu_ms[key].append(cpu)
                self.wall_ms[key].append(wall)
                if profile is not None:
                    if key in self.stats:
                        self.stats[key].add(profile)
                    else:
                        self.stats[key] = pstats.Stats(profile)
        return chunks

    def dump(self) -> None:
        """Write this worker's figures (called from gunicorn's worker_exit hook)."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        pid = os.getpid()
        with self.lock:
            names = {}
            for n, (key, stats) in enumerate(sorted(self.stats.items())):
                path = self.out_dir / f"{pid}-{n}.prof"
                stats.dump_stats(str(path))
                names[key] = path.name
            data = {"cpu_ms": dict(self.cpu_ms), "wall_ms": dict(self.wall_ms), "profiles": names}
        (self.out_dir / f"{pid}.json").write_text(json.dumps(data))


def read_cpu(out_dir: Path) -> dict[str, list[float]]:
    """Every worker's CPU milliseconds per request key, merged (after the workers exited)."""
    merged: dict[str, list[float]] = defaultdict(list)
    for path in sorted(out_dir.glob("*.json")):
        for key, values in json.loads(path.read_text())["cpu_ms"].items():
            merged[key] += values
    return dict(merged)


def wrap_worker(worker: Any) -> None:
    """gunicorn post_worker_init: profile this worker's requests when REGIMEDESK_PROFILE_DIR is set."""
    out = os.environ.get("REGIMEDESK_PROFILE_DIR", "").strip()
    if out:
        worker.wsgi = ProfiledApp(worker.wsgi, Path(out), os.environ.get("REGIMEDESK_PROFILE_CPROFILE") == "1")


def dump_worker(worker: Any) -> None:
    """gunicorn worker_exit: write the figures of a profiled worker."""
    if isinstance(getattr(worker, "wsgi", None), ProfiledApp):
        worker.wsgi.dump()
