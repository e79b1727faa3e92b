"""Order gateway throughput and paper cancel-all latency on SQLite.

Gateway: orders/s through every pre-trade check into the paper broker (two store transactions
for the gateway plus one for the broker per order). Baseline in the same run: a bare insert of
the same OrderRow rows, one transaction each, so the ratio shows what checks + broker cost.
Cancel-all: 100 open paper orders cancelled in one transaction (the kill switch's hot path).
Run: python -m bench.bench_gateway [--orders 500] [--rounds 20]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from engine.clock import ManualClock
from engine.context import EngineContext
from engine.settings import load_settings
from engine.store.migrate import open_store
from engine.store.models import BarRow, OrderRow
from engine.trading import state as trading_state
from engine.trading.brokers.base import OrderRequest, OrderSide, OrderType
from engine.trading.brokers.paper import PaperBroker
from engine.trading.gateway import OrderIntent, submit
from engine.trading.risk_limits import RiskLimits
from engine.trading.sync import sync_from_broker

T0 = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
SYMBOLS = ["AAA", "BBB", "CCC", "DDD", "EEE", "FFF", "GGG", "HHH"]
LIMITS = RiskLimits(max_order_qty=Decimal(10**6), max_order_notional=Decimal(10**9),
                    max_position_notional=Decimal(10**9), max_gross_exposure_pct=Decimal(10**4), max_rejections=10**6)


def make_ctx(path: Path) -> EngineContext:
    url = f"sqlite:///{path}"
    store = open_store(url, migrate=True)
    clock = ManualClock(T0)
    broker = PaperBroker(store, clock, Decimal(10**9))
    with store.write() as s:
        trading_state.ensure_state(s, T0)
        for i in range(200):  # a little history per symbol, like a running engine's store
            for j, sym in enumerate(SYMBOLS):
                px = 50.0 + j * 10
                s.add(BarRow(symbol=sym, ts=T0 - timedelta(minutes=200 - i), open=px, high=px + 1, low=px - 1,
                             close=px, volume=1e6))
    settings = load_settings(database_url=url, market_source="csv", csv_dir=path.parent)
    ctx = EngineContext(settings, store, clock, broker, None)
    sync_from_broker(ctx, LIMITS)
    return ctx


def bench_gateway(ctx: EngineContext, n: int) -> tuple[float, list[float]]:
    lat = []
    t_all = time.perf_counter()
    for i in range(n):
        sym = SYMBOLS[i % len(SYMBOLS)]
        intent = OrderIntent(sym, OrderSide.BUY if i % 2 == 0 else OrderSide.SELL, Decimal(10), OrderType.LIMIT,
                             Decimal(50 + SYMBOLS.index(sym) * 10), "bench", f"bench-{i}")
        t = time.perf_counter()
        res = submit(ctx, intent, "bench", "planner", LIMITS)
        lat.append((time.perf_counter() - t) * 1000)
        assert res.accepted, res.reason
    return n / (time.perf_counter() - t_all), lat


def bench_bare_insert(ctx: EngineContext, n: int) -> float:
    t_all = time.perf_counter()
    for i in range(n):
        with ctx.store.write() as s:
            s.add(OrderRow(client_order_id=f"bare-{i}", broker_order_id=None, symbol=SYMBOLS[i % 8], side="buy",
                           qty=Decimal(10), order_type="limit", limit_price=Decimal(50), status="pending_new",
                           filled_qty=Decimal(0), filled_avg_price=None, reject_reason=None, origin="bench",
                           actor="bench", param_version_id=None, created_at=T0, updated_at=T0))
    return n / (time.perf_counter() - t_all)


def bench_cancel_all(ctx: EngineContext, rounds: int) -> list[float]:
    broker = ctx.broker
    broker.cancel_all_orders()  # start from no open orders
    out = []
    for r in range(rounds):
        for i in range(100):
            broker.submit_order(OrderRequest(f"c-{r}-{i}", "AAA", OrderSide.BUY, Decimal(1), OrderType.LIMIT, Decimal(1)))
        t = time.perf_counter()
        results = broker.cancel_all_orders()
        out.append((time.perf_counter() - t) * 1000)
        assert len(results) == 100
    return out


def pct(ms: list[float], q: float) -> float:
    s = sorted(ms)
    return s[min(len(s) - 1, int(q * len(s)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--orders", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ctx = make_ctx(Path(tmp) / "bench.db")
        bare = bench_bare_insert(ctx, args.orders)
        rate, lat = bench_gateway(ctx, args.orders)
        print(f"bare OrderRow insert (baseline)      {bare:8.0f} rows/s")
        print(f"gateway submit -> paper broker      {rate:8.0f} orders/s   p50 {statistics.median(lat):6.2f} ms   "
              f"p95 {pct(lat, 0.95):6.2f} ms   ({bare / rate:.1f}x the bare insert's cost)")
        cancel = bench_cancel_all(ctx, args.rounds)
        print(f"paper cancel_all_orders, 100 open   p50 {statistics.median(cancel):6.2f} ms   "
              f"p95 {pct(cancel, 0.95):6.2f} ms   max {max(cancel):6.2f} ms   (rounds={args.rounds})")
        ctx.store.dispose()


if __name__ == "__main__":
    main()
