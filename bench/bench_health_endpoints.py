"""Latency of /healthz, /readyz and /metrics against a no-op route of the same app, in one run.

Real HTTP on 127.0.0.1 to the real app (create_app: the login guard, the request timing hooks); the
no-op route is declared public like /healthz, so every route passes the same guard. The store is first
filled by an embedded engine running for a few seconds (health results, job runs, orders), then the
web is measured alone (REGIMEDESK_ENGINE_MODE=none), requests interleaved round-robin so both share
the same machine noise.

Run: python bench/bench_health_endpoints.py [--db URL] [--requests N] [--fill-seconds S]
"""
from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from werkzeug.serving import make_server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._util import summary  # noqa: E402

TOKEN = "bench-token-0123456789abcdef"


def fill_store(url: str, seconds: float) -> None:
    from app import ENGINE_KEY, create_app
    from engine.settings import load_settings

    app = create_app(load_settings(database_url=url, tick_seconds=0.25, warmup_polls=300), start_engine=True)
    time.sleep(seconds)
    app.server.extensions[ENGINE_KEY].shutdown()


def build_web(url: str):  # type: ignore[no-untyped-def]
    from app import create_app
    from engine.settings import load_settings
    from webapp.auth.access import PUBLIC, ROUTE_ACCESS

    app = create_app(load_settings(database_url=url, engine_mode="none", metrics_token=TOKEN), start_engine=False)
    ROUTE_ACCESS["bench_noop"] = PUBLIC  # declared like /healthz: the same guard work on every route
    app.server.add_url_rule("/bench-noop", "bench_noop", lambda: "ok")
    return app


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="", help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--requests", type=int, default=300, help="requests per route")
    parser.add_argument("--fill-seconds", type=float, default=15.0, help="engine run time that fills the store")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    url = args.db or f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    fill_store(url, args.fill_seconds)
    app = build_web(url)
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    routes = {"no-op": ("/bench-noop", {}), "/healthz": ("/healthz", {}), "/readyz": ("/readyz", {}),
              "/metrics": ("/metrics", {"Authorization": f"Bearer {TOKEN}"})}
    http = requests.Session()
    for path, headers in routes.values():  # warm-up, and every route answers 200
        for _ in range(5):
            response = http.get(base + path, headers=headers, timeout=30)
            assert response.status_code == 200, (path, response.status_code, response.text[:200])
    samples: dict[str, list[float]] = {name: [] for name in routes}
    for _ in range(args.requests):
        for name, (path, headers) in routes.items():
            t0 = time.perf_counter()
            response = http.get(base + path, headers=headers, timeout=30)
            samples[name].append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200
    size = len(http.get(base + "/metrics", headers=routes["/metrics"][1], timeout=30).content)
    server.shutdown()
    base_median, base_p95 = summary(samples["no-op"])
    print(f"store {url.split('://')[0]}, {args.requests} requests per route over real HTTP on 127.0.0.1 "
          f"(/metrics body {size / 1024:.1f} KiB)")
    print(f"{'route':<10} {'median ms':>10} {'p95 ms':>8} {'x no-op (median)':>17} {'x no-op (p95)':>14}")
    for name, values in samples.items():
        median, p95 = summary(values)
        print(f"{name:<10} {median:>10.2f} {p95:>8.2f} {median / base_median:>17.2f} {p95 / base_p95:>14.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
