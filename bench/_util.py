"""Small helpers shared by the benchmarks: timings (median / p95 of repeated runs), a throwaway PostgreSQL database."""
from __future__ import annotations

import os
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

PG_ADMIN_URL = os.environ.get("REGIMEDESK_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def timings_ms(fn: Callable[[], object], repeat: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000.0)
    return out


def summary(values: list[float]) -> tuple[float, float]:
    """Median and 95th percentile."""
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return statistics.median(ordered), p95


@contextmanager
def throwaway_pg_database(admin_url: str = PG_ADMIN_URL) -> Iterator[str]:
    """A new, empty PostgreSQL database (its URL) on the server of `admin_url`, dropped afterwards: a bench
    never writes into a database it did not create. Raises psycopg.Error when the server is not reachable."""
    import psycopg

    admin = psycopg.connect(admin_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True,
                            connect_timeout=3)
    name = f"regimedesk_bench_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
