"""The planner's fill-history read (last trade and position-opened time per symbol) as the fill table grows.

Run: python -m bench.bench_fill_history [--fills 1000 10000 100000] [--postgres]
  For each size: a fresh store (a temporary SQLite file; --postgres: a throwaway database on
  $REGIMEDESK_TEST_PG_URL's server) with that many fills on 9 symbols (round trips: a
  few buys, then a sell), then, best of 5:
  - engine.planner.portfolio._fills, which reads each symbol's fills from its last sell on,
  - the whole-history walk it replaced (every fill loaded into Python, in time order), as the baseline,
  printed in ms and as the ratio baseline / bounded in this run. The planner runs this read every cycle.
"""
from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import insert, select

from bench._util import throwaway_pg_database
from engine.planner.portfolio import _fills
from engine.store.db import Store
from engine.store.migrate import open_store
from engine.store.models import FillRow

SYMBOLS = ["AAPL", "AMZN", "GOOG", "JPM", "META", "MSFT", "NVDA", "TSLA", "XOM"]


def _rows(n: int) -> list[dict]:
    t0 = datetime(2025, 1, 2, 14, 30, tzinfo=UTC)
    return [{"fill_key": f"k{i}", "client_order_id": f"c{i}", "symbol": SYMBOLS[i % len(SYMBOLS)],
             "side": "sell" if (i // len(SYMBOLS)) % 4 == 3 else "buy", "qty": Decimal(1), "price": Decimal(100),
             "commission": Decimal(0), "ts": t0 + timedelta(minutes=i)} for i in range(n)]


def _whole_walk(store: Store) -> int:
    """The read this bench measures against: every fill, in time order, walked in Python."""
    opened: dict[str, datetime] = {}
    with store.read() as s:
        for symbol, side, ts in s.execute(select(FillRow.symbol, FillRow.side, FillRow.ts).order_by(FillRow.ts)):
            if side == "sell":
                opened.pop(symbol, None)
            else:
                opened.setdefault(symbol, ts)
    return len(opened)


def _bounded(store: Store) -> int:
    with store.read() as s:
        return len(_fills(s)[1])


def _best(fn: Callable[[Store], int], store: Store, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn(store)
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fills", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    ap.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL database instead of SQLite")
    a = ap.parse_args()
    for n in a.fills:
        with tempfile.TemporaryDirectory(prefix="bench-fills-") as tmp, contextlib.ExitStack() as stack:
            url = stack.enter_context(throwaway_pg_database()) if a.postgres else f"sqlite:///{Path(tmp) / 'f.db'}"
            store = open_store(url, migrate=True)
            try:
                with store.write() as s:
                    s.execute(insert(FillRow), _rows(n))
                assert _bounded(store) == _whole_walk(store)  # same positions open
                walk, bounded = _best(_whole_walk, store), _best(_bounded, store)
            finally:
                store.dispose()
        print(f"{n:>8,} fills on {store.dialect}: whole-history walk {walk * 1e3:7.1f} ms | bounded read "
              f"{bounded * 1e3:6.1f} ms | {walk / bounded:5.1f}x less per planner cycle", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
