"""The planner's fill-history read (last trade and position-opened time per symbol) as the fill table grows.

Run: python -m bench.bench_fill_history [--fills 1000 10000 100000] [--postgres]
  For each size: a fresh store (a temporary SQLite file; --postgres: a throwaway database on
  $REGIMEDESK_TEST_PG_URL's server) with that many fills on 9 symbols (round trips: a
  few buys, then a sell), then, best of 5:
  - engine.planner.held_since.opened_at, which walks back from the positions held over the current holding
    periods' fills only (newest first, stopping at each opening),
  - the whole-history walk (every fill loaded into Python, in time order, running quantity), as the baseline,
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
from engine.planner.held_since import opened_at
from engine.store.db import Store
from engine.store.migrate import open_store
from engine.store.models import FillRow

SYMBOLS = ["AAPL", "AMZN", "GOOG", "JPM", "META", "MSFT", "NVDA", "TSLA", "XOM"]


def _rows(n: int) -> list[dict]:
    t0 = datetime(2025, 1, 2, 14, 30, tzinfo=UTC)
    return [{"fill_key": f"k{i}", "client_order_id": f"c{i}", "symbol": SYMBOLS[i % len(SYMBOLS)],
             "side": "sell" if (i // len(SYMBOLS)) % 4 == 3 else "buy", "qty": Decimal(1), "price": Decimal(100),
             "commission": Decimal(0), "ts": t0 + timedelta(minutes=i)} for i in range(n)]


def _whole_walk(store: Store) -> dict[str, datetime]:
    """The read this bench measures against: every fill, in time order, walked in Python; a position opens when
    its running quantity leaves zero (or changes side)."""
    qty: dict[str, Decimal] = {}
    opened: dict[str, datetime] = {}
    with store.read() as s:
        for symbol, side, q, ts in s.execute(select(FillRow.symbol, FillRow.side, FillRow.qty, FillRow.ts)
                                             .order_by(FillRow.ts, FillRow.id)):
            before = qty.get(symbol, Decimal(0))
            after = before + (q if side == "buy" else -q)
            qty[symbol] = after
            if after == 0:
                opened.pop(symbol, None)
            elif before == 0 or (before > 0) != (after > 0):
                opened[symbol] = ts
    return opened


def _held(store: Store) -> dict[str, Decimal]:
    """The positions the fills leave (what the positions table holds), read once outside the timing."""
    qty: dict[str, Decimal] = {}
    with store.read() as s:
        for symbol, side, q in s.execute(select(FillRow.symbol, FillRow.side, FillRow.qty)):
            qty[symbol] = qty.get(symbol, Decimal(0)) + (q if side == "buy" else -q)
    return {k: v for k, v in qty.items() if v != 0}


def _bounded(store: Store, held: dict[str, Decimal], now: datetime) -> dict[str, datetime]:
    with store.read() as s:
        return opened_at(s, held, now)


def _best(fn: Callable[..., object], *args: object, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn(*args)
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
                held, now = _held(store), datetime(2025, 6, 1, tzinfo=UTC)
                assert _bounded(store, held, now) == _whole_walk(store)  # same opening times
                walk, bounded = _best(_whole_walk, store), _best(_bounded, store, held, now)
            finally:
                store.dispose()
        print(f"{n:>8,} fills on {store.dialect}: whole-history walk {walk * 1e3:7.1f} ms | bounded read "
              f"{bounded * 1e3:6.1f} ms | {walk / bounded:5.1f}x less per planner cycle", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
