"""Issue 13 figures on the local fake Alpaca server (real HTTP on 127.0.0.1), each with a baseline in the same run.

1. Warm-up of 9 symbols x 600 minutes: requests and wall time. Baseline: the previous warm-up, one
   poll per simulated minute (600 polls), on the same server.
2. Steady-state requests per minute with the option chain, one simulated hour (limiter on a simulated
   clock). Now: bars every 10 s, chain every 60 s, sync every 10 s. Baseline: the previous schedule,
   bars and the chain every 1 s tick, sync every 5 s. Goal: <= 50% of the configured 120/min.
3. Longest broker call under each injected fault against its deadline. Baseline: the same call with
   no fault.

Run: python -m bench.bench_alpaca_account
"""
from __future__ import annotations

import contextlib
import logging
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from engine.clock import ManualClock
from engine.market.alpaca_source import AlpacaMarketSource
from engine.market.types import MarketDataError
from engine.trading.brokers.alpaca import AlpacaBroker
from engine.trading.brokers.alpaca_limits import RateLimiter
from engine.trading.brokers.base import BrokerError, OrderRequest, OrderSide
from tests.fake_alpaca import FakeAlpacaServer
from tests.fake_alpaca.traffic import RecordingLimiter, requests_per_minute, run_hour

KEY, SECRET = "bench-key", "bench-secret"
SYMBOLS = ["AAA", "BBB", "CCC", "DDD", "EEE", "FFF", "GGG", "HHH"]
NOW = datetime(2026, 3, 2, 20, 0, tzinfo=UTC)


def warm_up() -> None:
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET, page_size=10_000) as srv:
        for sym in [*SYMBOLS, "SPY"]:
            for i in range(600):
                srv.book.add_bar(sym, NOW - timedelta(minutes=600 - i), 10, 11, 9, 10, 100)
        # baseline: the old warm-up, 600 polls, each asking for the minute that just closed
        clock = ManualClock(NOW - timedelta(minutes=600))
        old = AlpacaMarketSource(KEY, SECRET, SYMBOLS, "SPY", srv.url, timeout_s=2.0, clock=clock,
                                 history=timedelta(minutes=1))
        t0 = time.perf_counter()
        bars = 0
        for _ in range(600):
            clock.advance(60)
            bars += len(old.poll().bars)
        base_s, base_req = time.perf_counter() - t0, srv.total_hits()
        new = AlpacaMarketSource(KEY, SECRET, SYMBOLS, "SPY", srv.url, timeout_s=2.0, deadline_s=8.0,
                                 clock=ManualClock(NOW), history=timedelta(hours=10))
        t0 = time.perf_counter()
        got = len(new.poll().bars) if new.warmup_polls == 1 else 0
        new_s, new_req = time.perf_counter() - t0, srv.total_hits() - base_req
        print(f"warm-up 9 x 600 bars   baseline (600 polls): {base_req:5d} requests {base_s:6.2f} s ({bars} bars)")
        print(f"                       now (1 poll, paged):  {new_req:5d} requests {new_s:6.2f} s ({got} bars)"
              f"   ratio {base_req / max(new_req, 1):.0f}x fewer requests")


def steady(poll_s: float, sync_s: float, chain_s: float, per_minute: float = 120) -> tuple[float, int]:
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as srv:
        clock = ManualClock(datetime(2026, 3, 2, 14, 30, tzinfo=UTC))
        limiter = RecordingLimiter(per_minute=100_000, burst=100_000, monotonic=lambda: clock.now().timestamp(),
                                   wall=lambda: clock.now().timestamp(), sleep=clock.advance)  # count demand, unthrottled
        broker = AlpacaBroker(KEY, SECRET, url_override=srv.url, timeout_s=1.0, clock=clock, limiter=limiter)
        source = AlpacaMarketSource(KEY, SECRET, ["AAA", "BBB"], "SPY", srv.url, timeout_s=1.0, clock=clock,
                                    limiter=limiter, option_underlyings=["SPY"], chain_seconds=chain_s)
        srv.book.add_bar("SPY", clock.now() - timedelta(minutes=2), 500, 501, 499, 500, 1000)
        per_min = requests_per_minute(limiter.stamps, run_hour(clock, source, broker, poll_s, sync_s))
        return sum(per_min) / 60, max(per_min)


def faults() -> None:
    deadline = 2.0
    cases = {"stall 30 s": ("stall", {"delay_s": 30.0, "times": 20}), "504 x 50": ("504", {"times": 50}),
             "429 x 50": ("429", {"times": 50}), "429 Retry-After 30": ("429", {"times": 50, "headers": {"Retry-After": "30"}}),
             "drop x 50": ("drop", {"times": 50}), "500 x 50": ("500", {"times": 50})}
    calls = {"get_account": ("GET", "/v2/account"), "submit_order": ("POST", "/v2/orders"),
             "cancel_all": ("DELETE", "/v2/orders"), "bars poll": ("GET", "/v2/stocks/bars")}
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as srv:
        def run(name: str, limiter: RateLimiter) -> float:
            broker = AlpacaBroker(KEY, SECRET, url_override=srv.url, timeout_s=1.0, deadline_s=deadline, limiter=limiter,
                                  retry_wait_s=0.05)
            source = AlpacaMarketSource(KEY, SECRET, ["AAA"], "SPY", srv.url, timeout_s=1.0, deadline_s=deadline,
                                        clock=ManualClock(NOW), limiter=limiter)
            fn = {"get_account": broker.get_account, "cancel_all": broker.cancel_all_orders, "bars poll": source.poll,
                  "submit_order": lambda: broker.submit_order(OrderRequest(f"b-{time.monotonic_ns()}", "AAA",
                                                                           OrderSide.BUY, Decimal(1)))}[name]
            t0 = time.perf_counter()
            with contextlib.suppress(BrokerError, MarketDataError):
                fn()
            return time.perf_counter() - t0

        base = max(run(name, RateLimiter(60_000, 1000)) for name in calls)
        print(f"longest call, deadline {deadline:.1f} s   baseline (no fault): {base * 1000:7.1f} ms")
        for label, (kind, kw) in cases.items():
            worst = 0.0
            for name, (method, path) in calls.items():
                srv.clear_faults()
                srv.inject(method, path, kind, **kw)  # type: ignore[arg-type]
                worst = max(worst, run(name, RateLimiter(60_000, 1000)))
            print(f"   {label:<22} worst {worst:6.2f} s  ({worst / deadline:4.2f} x deadline, "
                  f"{worst / base:6.0f} x baseline)")
        srv.clear_faults()


def main() -> None:
    logging.basicConfig(level=logging.CRITICAL)
    warm_up()
    old_avg, old_peak = steady(poll_s=1, sync_s=5, chain_s=0)
    new_avg, new_peak = steady(poll_s=10, sync_s=10, chain_s=60)
    print(f"steady state, 1 h      baseline (1 s ticks, chain every tick, sync 5 s): {old_avg:6.1f}/min avg, "
          f"peak {old_peak}/min ({old_peak / 120:.0%} of 120)")
    print(f"                       now (10 s polls, chain 60 s, sync 10 s):        {new_avg:6.1f}/min avg, "
          f"peak {new_peak}/min ({new_peak / 120:.0%} of 120)   ratio {old_avg / new_avg:.1f}x fewer")
    faults()


if __name__ == "__main__":
    main()
