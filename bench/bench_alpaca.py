"""Round-trip latency of the Alpaca adapter on the local fake Alpaca server.

Baseline in the same run: alpaca-py's bare TradingClient against the same server, so the
figures show what the adapter (timeouts, breaker, mapping, lookups) costs on top of HTTP.
Run: python -m bench.bench_alpaca [--orders 100] [--rounds 200]
"""
from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from alpaca.trading.client import TradingClient
from alpaca.trading.requests import LimitOrderRequest

from engine.clock import ManualClock
from engine.trading.brokers.alpaca import AlpacaBroker
from engine.trading.brokers.base import OrderRequest, OrderSide, OrderType
from tests.fake_alpaca import FakeAlpacaServer
from tests.trading_control_fixtures import T0


def timed(fn: Callable[[], object], rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def line(label: str, ms: list[float]) -> str:
    ms = sorted(ms)
    p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
    return f"{label:<46} p50 {statistics.median(ms):7.2f} ms   p95 {p95:7.2f} ms   n={len(ms)}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--orders", type=int, default=100, help="open orders before cancel-all")
    ap.add_argument("--rounds", type=int, default=200)
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the lost-answer round logs one warning per order
    with FakeAlpacaServer() as srv:
        raw = TradingClient(srv.key_id, srv.secret_key, paper=True, url_override=srv.url)
        broker = AlpacaBroker(srv.key_id, srv.secret_key, paper=True, url_override=srv.url, timeout_s=5.0)
        raw.get_account()
        broker.get_account()
        print(line("baseline  TradingClient.get_account", timed(raw.get_account, args.rounds)))
        print(line("adapter   AlpacaBroker.get_account", timed(broker.get_account, args.rounds)))

        n = iter(range(10**9))

        def raw_submit() -> None:
            raw.submit_order(LimitOrderRequest(symbol="AAPL", qty=1, side="buy", time_in_force="day",
                                               limit_price=1.0, client_order_id=f"raw-{next(n)}"))

        def adapter_submit() -> None:
            broker.submit_order(OrderRequest(f"ad-{next(n)}", "AAPL", OrderSide.BUY, Decimal(1),
                                             OrderType.LIMIT, Decimal(1)))

        print(line("baseline  TradingClient.submit_order (limit)", timed(raw_submit, args.rounds)))
        print(line("adapter   AlpacaBroker.submit_order (limit)", timed(adapter_submit, args.rounds)))
        raw.cancel_orders()

        for label, cancel in (("baseline  TradingClient.cancel_orders", raw.cancel_orders),
                              ("adapter   AlpacaBroker.cancel_all_orders", broker.cancel_all_orders)):
            samples = []
            for _ in range(5):
                for _ in range(args.orders):
                    adapter_submit()
                t = time.perf_counter()
                cancel()
                samples.append((time.perf_counter() - t) * 1000)
                assert not srv.book.open_orders()
            print(line(f"{label} ({args.orders} open)", samples))

        srv.inject("POST", "/v2/orders", "commit_then_drop", times=args.rounds // 4)
        print(line("adapter   submit, answer lost -> lookup by client id", timed(adapter_submit, args.rounds // 4)))
        for i in range(20):
            srv.book.set_position(f"S{i}", Decimal(10), Decimal(100))
        t = time.perf_counter()
        closed = broker.close_all_positions()
        print(f"{'adapter   close_all_positions (20 positions)':<46} {(time.perf_counter() - t) * 1000:7.2f} ms   "
              f"orders={len(closed)}")
        kill_switch(broker, srv, args.orders)


def kill_switch(broker: AlpacaBroker, srv: FakeAlpacaServer, n_orders: int, rounds: int = 5) -> None:
    """The whole kill switch (control.perform: HALTED, then cancel all) with n open Alpaca orders."""
    from engine.trading import control
    from engine.trading import state as ts
    from tests.trading_control_fixtures import make_store, place_resting_orders, seed_market

    halted_ms, total_ms = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            store = make_store(Path(tmp) / f"r{r}")
            clock = ManualClock(T0)
            seed_market(store, clock)
            ctx = control.SimpleControlContext(store=store, clock=clock, broker=broker)
            place_resting_orders(ctx, n_orders, prefix=f"ks{r}")
            t = time.perf_counter()
            result = control.perform(ctx, "bench", "kill_switch", reason="benchmark")
            total_ms.append((time.perf_counter() - t) * 1000)
            assert result.status == "done" and not srv.book.open_orders(), result
            halt = next(st for st in result.steps if st.name == "halt")
            halted_ms.append(float(halt.duration_ms or 0))
            with store.read() as s:
                assert ts.current(s).state is ts.TradingState.HALTED
            store.dispose()
    print(line(f"kill switch: click -> HALTED ({n_orders} open)", halted_ms))
    print(line(f"kill switch: click -> all cancelled ({n_orders} open)", total_ms))


if __name__ == "__main__":
    main()
