"""The order gateway's submission throttle: a token bucket per broker account.

Why: a planner bug or a burst of stop exits must not fire hundreds of orders into the broker in a
second (NautilusTrader's risk engine throttles submissions the same way). `rate` tokens per second
refill a bucket of `burst` tokens; each order takes one. A burst beyond the bucket waits for tokens,
so over any window of t seconds at most burst + rate * t orders go out. A wait longer than the
caller's `max_wait_s` is refused instead, with a message saying so.

The bucket lives in the process (the engine sends nearly all orders); each web worker that sends
manual orders has its own. Time comes from an injected monotonic function, so tests need no sleeping.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ALPACA_DEFAULT_RATE = 5.0  # orders/s when REGIMEDESK_ORDER_RATE_PER_SECOND is unset and the broker is Alpaca


class ThrottleRefused(Exception):
    """Waiting for a token would take longer than the caller allows."""


@dataclass(frozen=True, slots=True)
class ThrottleConfig:
    rate: float  # orders per second; 0 = no throttle
    burst: int
    max_wait_s: float

    @classmethod
    def from_settings(cls, settings: Any) -> ThrottleConfig:
        """Unset rate: 5/s for a real broker account (Alpaca), off for the paper broker (simulations, backtests)."""
        rate = getattr(settings, "order_rate_per_second", None)
        if rate is None:
            rate = ALPACA_DEFAULT_RATE if str(getattr(settings, "broker", "")) == "alpaca" else 0.0
        return cls(float(rate), int(getattr(settings, "order_burst", 1) or 1),
                   float(getattr(settings, "order_throttle_max_wait_s", 5.0)))


class TokenBucket:
    def __init__(self, rate: float, burst: int, monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"a token bucket needs rate > 0 and burst >= 1 (got rate {rate}, burst {burst})")
        self.rate, self.burst = float(rate), int(burst)
        self._now, self._sleep = monotonic, sleep
        self._tokens = float(burst)
        self._stamp = monotonic()
        self._lock = threading.Lock()

    def _reserve(self, max_wait_s: float) -> float:
        """Take a token now or book the next one; returns the seconds to wait (refused beyond max_wait_s)."""
        with self._lock:
            now = self._now()
            self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            wait = 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate
            if wait > max_wait_s:
                raise ThrottleRefused(f"the order throttle ({self.rate:g} orders/s, burst {self.burst}) would hold "
                                      f"this order {wait:.1f}s, longer than the {max_wait_s:g}s allowed")
            self._tokens -= 1  # may go negative: the debt is the queue of orders already waiting
            return wait

    def acquire(self, max_wait_s: float = float("inf")) -> float:
        """Block until this order may go; returns the seconds waited."""
        wait = self._reserve(max_wait_s)
        if wait > 0:
            self._sleep(wait)
        return wait


_BUCKETS: dict[tuple[str, float, int], TokenBucket] = {}
_BUCKETS_LOCK = threading.Lock()


def account_key(broker: Any) -> str:
    """One bucket per broker account: the broker's own key if it has one, else its name."""
    return str(getattr(broker, "account_key", None) or getattr(broker, "name", "broker"))


def bucket_for(broker: Any, config: ThrottleConfig) -> TokenBucket | None:
    """The process's bucket for this account and configuration (None: throttle off)."""
    if config.rate <= 0:
        return None
    key = (account_key(broker), config.rate, config.burst)
    with _BUCKETS_LOCK:
        bucket = _BUCKETS.get(key)
        if bucket is None:
            bucket = _BUCKETS[key] = TokenBucket(config.rate, config.burst)
        return bucket
