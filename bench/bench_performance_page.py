"""Performance page render with a year of one-minute account snapshots, against the Overview page.

The store holds 252 sessions x 390 one-minute account snapshots (98,280 rows), 3,024 fills, the
index's regime every 15 minutes and one symbol's bars (tests/performance_history.py). Each page's
callbacks are POSTed the way the browser asks for them on opening the page (Flask test client, Dash's
payload format: serialisation included, network and browser not), logged in as a viewer:
- cold: the query cache emptied first (the first tab to open the page in a cache period pays this);
- warm: the same calls again within the cache period (every other tab and refresh).
Also timed: a narrower date range (one month), cold. The Overview's callbacks are the baseline.
Run: python -m bench.bench_performance_page [--rounds 5] [--db-url URL] (default: a temporary SQLite file)
"""
from __future__ import annotations

import argparse
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench._util import summary
from tests import web_requests as wr
from tests.auth_helpers import login_client
from tests.performance_history import write_history


def _calls(client: Any, deps: list[dict[str, Any]], prefix: str,
           values: dict[str, Any] | None = None) -> list[Callable[[], None]]:
    """One function per callback whose outputs are all on the page `prefix` (dcc.Download excluded)."""
    out: list[Callable[[], None]] = []
    for dep in deps:
        ids = [str(i) for i, _ in wr.split_outputs(dep["output"])]
        if not all(i.startswith(prefix) for i in ids) or any("download" in i for i in ids):
            continue
        names = {f"{s['id']}.{s['property']}" for s in dep["inputs"] + dep["state"]}
        mine = {k: v for k, v in (values or {}).items() if k in names}

        def call(dep: dict[str, Any] = dep, mine: dict[str, Any] = mine) -> None:
            response = wr.call(client, dep, mine)
            assert response.status_code in (200, 204), (dep["output"], response.status_code)
        out.append(call)
    return out


def _time(calls: list[Callable[[], None]], rounds: int, before: Callable[[], object]) -> list[float]:
    times = []
    for _ in range(rounds):
        before()
        t0 = time.perf_counter()
        for call in calls:
            call()
        times.append((time.perf_counter() - t0) * 1000.0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--db-url", default=None)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    from app import create_app
    from engine.settings import load_settings
    from webapp.cache import cache
    from webapp.context import EXTENSION_KEY

    with tempfile.TemporaryDirectory() as tmp:
        url = args.db_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        settings = load_settings(database_url=url, warmup_polls=10, deadman_seconds=0)
        app = create_app(settings, start_engine=False)
        t0 = time.perf_counter()
        history = write_history(app.server.extensions[EXTENSION_KEY].store)
        print(f"store: {url.split(':')[0]}, {len(history.times):,} account snapshots, {len(history.fills):,} fills "
              f"written in {time.perf_counter() - t0:.1f} s")
        client = login_client(app, "viewer")
        deps = wr.dependencies(client)
        month = {"performance-range.start_date": "2025-06-01", "performance-range.end_date": "2025-06-30",
                 "performance-symbol.value": "AAA"}
        pages = {
            "overview": _calls(client, deps, "overview-"),
            "performance": _calls(client, deps, "performance-", {"performance-symbol.value": "AAA"}),
            "performance, one month": _calls(client, deps, "performance-", month),
        }
        with app.server.app_context():
            clear = cache.clear
        results: dict[str, tuple[float, float]] = {}
        for name, calls in pages.items():
            cold = _time(calls, args.rounds, clear)
            results[f"{name} cold"] = summary(cold)
            if name != "performance, one month":
                results[f"{name} warm"] = summary(_time(calls, args.rounds, lambda: None))
        base_cold, base_warm = results["overview cold"][0], results["overview warm"][0]
        print(f"{'page callbacks':<32}{'median ms':>12}{'p95 ms':>10}{'x overview':>12}")
        for name, (median, p95) in results.items():
            base = base_warm if name.endswith("warm") else base_cold
            print(f"{name:<32}{median:>12.1f}{p95:>10.1f}{median / base:>12.1f}")
        app.server.extensions[EXTENSION_KEY].store.dispose()


if __name__ == "__main__":
    main()
