"""An hour of the engine's steady Alpaca traffic on a simulated clock, for the rate-limit test
(tests/integration/test_alpaca_real_account.py) and its benchmark (bench/bench_alpaca_account.py), which
must count the same schedule of requests."""
from __future__ import annotations

from datetime import datetime, timedelta

from engine.clock import ManualClock
from engine.market.alpaca_source import AlpacaMarketSource
from engine.trading.brokers.alpaca import AlpacaBroker
from engine.trading.brokers.alpaca_limits import RateLimiter


class RecordingLimiter(RateLimiter):
    """The limiter, noting the (simulated) time each request was let through."""

    def __init__(self, *a: object, **kw: object) -> None:
        super().__init__(*a, **kw)  # type: ignore[arg-type]
        self.stamps: list[float] = []

    def acquire(self, timeout_s: float) -> None:
        super().acquire(timeout_s)
        self.stamps.append(self._now())


def run_hour(clock: ManualClock, source: AlpacaMarketSource, broker: AlpacaBroker, poll_s: float,
             sync_s: float) -> datetime:
    """One simulated hour from now: the source polled every poll_s, the broker sync (account, positions,
    orders, fills) every sync_s, the clock jumping to the next due time. Returns when the hour started."""
    start = clock.now()
    next_poll, next_sync = start, start
    for _ in range(100_000):  # bounded; ends after one simulated hour
        now = clock.now()
        if now - start >= timedelta(hours=1):
            break
        if now >= next_poll:
            source.poll()
            next_poll += timedelta(seconds=poll_s)
        if now >= next_sync:
            broker.get_account()
            broker.get_positions()
            broker.list_orders_since(now - timedelta(seconds=30))
            broker.fills_since(now - timedelta(seconds=30))
            next_sync += timedelta(seconds=sync_s)
        clock.advance(max(0.0, (min(next_poll, next_sync) - clock.now()).total_seconds()) or 0.001)
    return start


def requests_per_minute(stamps: list[float], start: datetime) -> list[int]:
    """Requests in each of the 60 minutes of the hour that began at `start`."""
    t0 = start.timestamp()
    return [sum(1 for t in stamps if t0 + 60 * m <= t < t0 + 60 * (m + 1)) for m in range(60)]
