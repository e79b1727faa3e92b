"""Kill switch latency with 100 open orders: call -> HALTED committed, and call -> broker confirms
0 open orders, through engine.trading.control.perform (what the buttons and the CLI call).

Paths measured (SQLite store, fresh each round):
  paper, engine down   - the caller (web/CLI) performs the broker steps itself
  paper, engine alive  - the command is handed to an engine thread polling every COMMAND_POLL_SECONDS (the
                         engine's command job period), so the wait for that poll is included
  alpaca (local server)- AlpacaBroker over real HTTP against tests/fake_alpaca, caller performs
  busy writer          - engine down, while another process commits 50 ms write transactions back to back
                         (the engine's market job on a loaded machine); beside it, one plain (not urgent)
                         write under the same writer: what the kill switch waited before engine/store/write_gate.py
  postgresql           - paper on PostgreSQL (REGIMEDESK_TEST_PG_URL), first as is, then with another
                         process frozen (SIGSTOP) while holding the trading-state row lock: the kill
                         switch waits control.STATE_LOCK_TIMEOUT_MS, terminates that session, and goes on
Baseline in the same run: a bare state-change transaction plus a bare broker.cancel_all_orders(),
i.e. the floor without the command row, step recording, audit and verification.
Run: python -m bench.bench_kill_switch [--orders 100] [--rounds 5]
"""
from __future__ import annotations

import argparse
import contextlib
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

from bench._kill_switch_rounds import (
    ENGINE_POLL_S,
    StateWatch,
    engine_thread,
    paper_ctx,
    report,
    reset,
    rest,
    round_baseline,
    round_perform,
    run_rounds,
    wait_all_cancelled,
)
from bench._util import PG_ADMIN_URL, throwaway_pg_database
from engine.clock import SystemClock
from engine.store.db import SQLITE_BUSY_TIMEOUT_MS
from engine.store.migrate import open_store
from engine.trading import control
from engine.trading.brokers.paper import PaperBroker
from engine.trading.control import SimpleControlContext
from tests.trading_control_fixtures import seed_market

BUSY_WRITER = """
import os, sys, time
from sqlalchemy import text
from engine.store.db import Store
store, stop_file, end = Store(sys.argv[1]), sys.argv[2], time.monotonic() + 60
while time.monotonic() < end and not os.path.exists(stop_file):
    with store.write() as s:
        s.execute(text("UPDATE bench_busy SET n = n + 1 WHERE id = 1"))
        time.sleep(0.05)
"""


class BusyWriter:
    """Another process committing 50 ms write transactions back to back while the block runs (its own
    set-up writes, like resting the orders, are done before: they would be starved as well)."""

    def __init__(self, ctx: SimpleControlContext, tmp: Path) -> None:
        from sqlalchemy import text

        self.url, self.stop_file = ctx.store.url, tmp / "stop-busy"
        with ctx.store.write() as s:
            s.execute(text("CREATE TABLE IF NOT EXISTS bench_busy (id INTEGER PRIMARY KEY, n INTEGER)"))
            s.execute(text("INSERT OR IGNORE INTO bench_busy (id, n) VALUES (1, 0)"))

    def __enter__(self) -> BusyWriter:
        import subprocess
        import sys

        self.stop_file.unlink(missing_ok=True)
        self.proc = subprocess.Popen([sys.executable, "-c", BUSY_WRITER, self.url, str(self.stop_file)])
        time.sleep(1.0)  # the writer is in its loop
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_file.touch()
        self.proc.wait(30)


def busy_kill_round(ctx: SimpleControlContext, n: int, tag: str, tmp: Path) -> tuple[float, float]:
    rest(ctx, n, tag)
    with BusyWriter(ctx, tmp), StateWatch(ctx) as watch:
        t0 = time.perf_counter()
        control.perform(ctx, "bench", "halt", reason="bench")
        done = wait_all_cancelled(ctx)
    assert watch.seen_at is not None
    reset(ctx)
    return (watch.seen_at - t0) * 1000, (done - t0) * 1000


def busy_plain_writes(ctx: SimpleControlContext, rounds: int, tmp: Path) -> list[tuple[float, float]]:
    """One-row routine writes under the same writer: what any write waited before write_gate.py."""
    from sqlalchemy import text

    rows: list[tuple[float, float]] = []
    with BusyWriter(ctx, tmp):
        for _ in range(rounds):
            t0 = time.perf_counter()
            try:
                with ctx.store.write() as s:
                    s.execute(text("UPDATE bench_busy SET n = n WHERE id = 1"))
            except Exception:  # noqa: BLE001 - the busy timeout: reported as the time it took to fail
                pass
            ms = (time.perf_counter() - t0) * 1000
            rows.append((ms, ms))
            time.sleep(0.2)
    return rows


def bench_alpaca(n: int, rounds: int, tmp: Path) -> list[tuple[float, float]] | None:
    try:
        from engine.trading.brokers.alpaca import AlpacaBroker
        from tests.fake_alpaca import FakeAlpacaServer
    except ImportError:
        return None
    clock = SystemClock()
    store = open_store(f"sqlite:///{tmp / 'alpaca.db'}", migrate=True)
    seed_market(store, clock)
    with FakeAlpacaServer(key_id="k", secret_key="s") as server:
        broker = AlpacaBroker("k", "s", paper=True, url_override=server.url, timeout_s=5.0)
        ctx = SimpleControlContext(store=store, clock=clock, broker=broker)
        rows = run_rounds(rounds, lambda i: round_perform(ctx, n, f"alp{i}", execute="here"))
    store.dispose()
    return rows


FROZEN_HOLDER = """
import os, signal, sys, psycopg
con = psycopg.connect(sys.argv[1], application_name="bench-frozen-holder")
con.execute("SELECT state FROM trading_state WHERE id = 1 FOR UPDATE")
print("locked", flush=True)
os.kill(os.getpid(), signal.SIGSTOP)
"""


def frozen_holder_round(ctx: SimpleControlContext, url: str, n: int, tag: str) -> tuple[float, float]:
    import subprocess
    import sys

    holder = subprocess.Popen([sys.executable, "-c", FROZEN_HOLDER, url], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        return round_perform(ctx, n, tag, execute="here")
    finally:
        holder.kill()
        holder.wait(timeout=10)


def bench_postgres(n: int, rounds: int) -> tuple[list[tuple[float, float]], list[tuple[float, float]]] | str:
    import psycopg

    with contextlib.ExitStack() as stack:
        try:  # only the connection decides "skipped": a failure in the rounds themselves is raised
            url = stack.enter_context(throwaway_pg_database())
        except psycopg.OperationalError as exc:
            return f"skipped, PostgreSQL not reachable at {PG_ADMIN_URL} ({exc})"
        clock = SystemClock()
        store = open_store(url, migrate=True)
        seed_market(store, clock)
        ctx = SimpleControlContext(store=store, clock=clock,
                                   broker=PaperBroker(store, clock, starting_cash=Decimal(10**9)))
        plain = run_rounds(rounds, lambda i: round_perform(ctx, n, f"pg{i}", execute="here"))
        frozen = run_rounds(rounds, lambda i: frozen_holder_round(ctx, url, n, f"pgf{i}"))
        store.dispose()
        return plain, frozen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    n, rounds = args.orders, args.rounds
    print(f"kill switch with {n} open orders, {rounds} rounds each (SQLite WAL store)")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        ctx = paper_ctx(tmp / "paper.db")
        report("baseline: bare state + cancel_all", run_rounds(rounds, lambda i: round_baseline(ctx, n, f"b{i}")))
        report("paper, engine down (web acts)", run_rounds(rounds, lambda i: round_perform(ctx, n, f"d{i}")))
        kill = run_rounds(rounds, lambda i: busy_kill_round(ctx, n, f"busy{i}", tmp))
        plain = busy_plain_writes(ctx, rounds, tmp)
        report("busy writer, engine down", kill)
        report("  a plain write under the same writer", plain)
        print(f"  ratio, worst plain write / worst kill switch HALTED: "
              f"{max(r[0] for r in plain) / max(r[0] for r in kill):.0f}x (a plain write near "
              f"{SQLITE_BUSY_TIMEOUT_MS} ms hit the busy timeout: it failed)")
        stop = threading.Event()
        thread = engine_thread(ctx, stop)
        try:
            report(f"paper, engine alive (poll {ENGINE_POLL_S}s)",
                   run_rounds(rounds, lambda i: round_perform(ctx, n, f"e{i}", handoff_s=2.0)))
        finally:
            stop.set()
            thread.join()
        ctx.store.dispose()
        rows = bench_alpaca(n, rounds, tmp)
        if rows is None:
            print("alpaca (local server): skipped, tests/fake_alpaca not available")
        else:
            report("alpaca local server (caller acts)", rows)
    pg = bench_postgres(n, rounds)
    if isinstance(pg, str):
        print(f"postgresql: {pg}")
    else:
        report("paper on PostgreSQL (caller acts)", pg[0])
        report(f"  + frozen lock holder ({control.STATE_LOCK_TIMEOUT_MS} ms wait)", pg[1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
