"""Every Alpaca HTTP request passes here: one request budget per key, and a total deadline per call.

Why: Alpaca allows 200 requests per minute per key and answers 429 beyond it; alpaca-py sets no
timeout, retries 429/504 itself and follows data page tokens without bound. So every alpaca-py
client gets an ``AlpacaSession`` (see ``alpaca_http.harden_client``) that, for each request:

1. checks the caller's ``CallBudget`` (a total deadline and a request count, set with
   ``call_budget(...)``; nested budgets take the tighter of the two), so a call and all its
   attempts, retries and pages end by one deadline;
2. takes a token from the key's ``RateLimiter`` (a token bucket shared by every client made with
   the same key in this process), waiting at most until the deadline; a request that cannot get a
   token in time is not sent (``NotSent``), so its outcome is certain;
3. sends with ``timeout = min(per-attempt timeout, time left)``;
4. reads ``X-RateLimit-Limit``/``-Remaining``/``-Reset`` and, on 429, ``Retry-After``: the bucket
   then holds every caller until Alpaca's window resets.

Limit: ``requests``' read timeout bounds each wait for bytes, not the whole body; a server that
trickles one byte per second could stretch a read past the deadline (Alpaca does not do that).
"""
from __future__ import annotations

import contextlib
import contextvars
import hashlib
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import requests

ALPACA_DOCUMENTED_PER_MINUTE = 200
DEFAULT_PER_MINUTE = 120  # well under Alpaca's 200: leaves room for a second tool using the same key


class NotSent(requests.RequestException):
    """The request was never sent (no time or no rate budget left): its outcome is certain, nothing happened."""


class DeadlineExceeded(NotSent):
    """The call's total deadline passed before this request could be sent."""


class RateLimitedLocally(NotSent):
    """No request budget within the deadline (the local bucket, or Alpaca's 429 / Retry-After)."""


class TooManyRequests(NotSent):
    """The call made as many requests as its budget allows (a paging loop that does not end)."""


@dataclass
class CallBudget:
    """A total deadline (time.monotonic) and a request count for one call and everything it does."""

    deadline: float
    max_requests: int
    sent: int = 0
    label: str = ""
    before_send: Callable[[], None] | None = None  # runs after the rate-limiter wait; raises NotSent to hold the request

    def remaining(self) -> float:
        return self.deadline - time.monotonic()


_BUDGET: contextvars.ContextVar[CallBudget | None] = contextvars.ContextVar("alpaca_call_budget", default=None)


def current_budget() -> CallBudget | None:
    return _BUDGET.get()


@contextlib.contextmanager
def call_budget(seconds: float, max_requests: int = 50, label: str = "",
                before_send: Callable[[], None] | None = None) -> Iterator[CallBudget]:
    """Bound everything inside to ``seconds`` and ``max_requests``; an enclosing budget stays the limit if tighter.

    Requests sent inside count against the enclosing budget too (``sent`` is shared upward on exit).
    """
    outer = _BUDGET.get()
    deadline = time.monotonic() + max(0.0, seconds)
    cap = max_requests
    if outer is not None:
        deadline = min(deadline, outer.deadline)
        cap = min(cap, max(0, outer.max_requests - outer.sent))
    budget = CallBudget(deadline, cap, label=label or (outer.label if outer else ""), before_send=before_send)
    token = _BUDGET.set(budget)
    try:
        yield budget
    finally:
        _BUDGET.reset(token)
        if outer is not None:
            outer.sent += budget.sent


class RateLimiter:
    """A token bucket (``per_minute``, bursts of ``burst``) that also obeys Alpaca's own rate-limit answers."""

    def __init__(self, per_minute: float = DEFAULT_PER_MINUTE, burst: int | None = None,
                 monotonic: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        """``monotonic``/``wall``/``sleep`` are injectable so a test can run an hour of simulated time in seconds."""
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.per_minute = float(per_minute)
        self.capacity = float(burst if burst is not None else max(1, math.floor(per_minute / 10)))
        self._rate = self.per_minute / 60.0
        self._now = monotonic
        self._wall = wall
        self._sleep = sleep
        self._tokens = self.capacity
        self._stamp = monotonic()
        self._blocked_until = 0.0  # monotonic time before which Alpaca said not to send
        self._lock = threading.Lock()
        self._sent: deque[float] = deque()
        self.sent_total = 0
        self.throttled = 0  # requests that had to wait for a token
        self.refused = 0  # requests not sent because the wait would pass the deadline
        self.http_429 = 0
        self.server_limit: int | None = None
        self.server_remaining: int | None = None

    # ---- budget -------------------------------------------------------------------
    def _refill(self, now: float) -> None:
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now

    def wait_needed(self) -> float:
        """Seconds until a request could be sent now (0 when one can go at once)."""
        with self._lock:
            now = self._now()
            self._refill(now)
            return max(self._blocked_until - now, (1.0 - self._tokens) / self._rate if self._tokens < 1 else 0.0, 0.0)

    def acquire(self, timeout_s: float) -> None:
        """Take one token, waiting at most ``timeout_s``; else raise RateLimitedLocally at once (not sent)."""
        waited = False
        start = self._now()
        for _ in range(10_000):  # bounded: each pass sleeps until the earliest moment a token can exist
            with self._lock:
                now = self._now()
                self._refill(now)
                wait = max(self._blocked_until - now, 0.0)
                if wait == 0.0 and self._tokens >= 1.0:
                    self._tokens -= 1.0
                    while self._sent and self._sent[0] < now - 60.0:
                        self._sent.popleft()
                    self._sent.append(now)
                    self.sent_total += 1
                    self.throttled += int(waited)
                    return
                if wait == 0.0:
                    wait = (1.0 - self._tokens) / self._rate
                if (now - start) + wait > timeout_s:
                    self.refused += 1
                    reason = ("Alpaca asked to wait" if self._blocked_until > now else "the local request budget is spent")
                    raise RateLimitedLocally(
                        f"not sent: {reason} ({self.per_minute:g}/min); the next request slot is in {wait:.1f} s, "
                        "after this call's deadline")
            waited = True
            self._sleep(min(wait, 1.0))
        raise RateLimitedLocally("not sent: no request slot after 10,000 waits")

    # ---- what Alpaca said ----------------------------------------------------------------
    def observe(self, status: int, headers: Any) -> None:
        """Honour X-RateLimit-Remaining/-Reset and a 429's Retry-After (seconds or an HTTP date)."""
        now_m, now_w = self._now(), self._wall()
        limit, remaining = _int(headers.get("X-RateLimit-Limit")), _int(headers.get("X-RateLimit-Remaining"))
        reset = _float(headers.get("X-RateLimit-Reset"))  # unix seconds when Alpaca's window resets
        block_for = 0.0
        if remaining is not None and remaining <= 0 and reset is not None:
            block_for = max(0.0, reset - now_w)
        if status == 429:
            retry_after = _retry_after(headers.get("Retry-After"), now_w)
            if retry_after is None and reset is not None:
                retry_after = max(0.0, reset - now_w)
            block_for = max(block_for, 1.0 if retry_after is None else retry_after)
        with self._lock:
            if limit is not None:
                self.server_limit = limit
            if remaining is not None:
                self.server_remaining = remaining
                # never believe we have more tokens than Alpaca says remain
                self._tokens = min(self._tokens, float(remaining))
            if status == 429:
                self.http_429 += 1
                self._tokens = 0.0
            if block_for > 0:
                self._blocked_until = max(self._blocked_until, now_m + min(block_for, 120.0))

    def snapshot(self) -> dict[str, Any]:
        """The request budget in use, for the Health page and /metrics."""
        with self._lock:
            now = self._now()
            self._refill(now)
            while self._sent and self._sent[0] < now - 60.0:
                self._sent.popleft()
            return {"limit_per_minute": self.per_minute, "used_last_minute": len(self._sent),
                    "tokens": round(self._tokens, 2), "blocked_for_s": round(max(0.0, self._blocked_until - now), 2),
                    "sent_total": self.sent_total, "throttled": self.throttled, "refused": self.refused,
                    "http_429": self.http_429, "server_limit": self.server_limit,
                    "server_remaining": self.server_remaining}


def _int(v: Any) -> int | None:
    try:
        return None if v is None else int(str(v).strip())
    except ValueError:
        return None


def _float(v: Any) -> float | None:
    try:
        return None if v is None else float(str(v).strip())
    except ValueError:
        return None


def _retry_after(v: Any, now_wall: float) -> float | None:
    if v is None:
        return None
    seconds = _float(v)
    if seconds is not None:
        return max(0.0, seconds)
    try:
        return max(0.0, parsedate_to_datetime(str(v)).timestamp() - now_wall)
    except (TypeError, ValueError):
        return None


_LIMITERS: dict[str, RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def limiter_for(api_key: str, per_minute: float = DEFAULT_PER_MINUTE) -> RateLimiter:
    """The one limiter of this key in this process (broker, data clients and streams' REST catch-up share it).

    Keyed by a hash of the key, never the key itself. A later caller with another rate keeps the first
    limiter but lowers its rate if asked for less (the stricter setting wins).
    """
    ident = hashlib.sha256(api_key.encode()).hexdigest()[:16]
    with _LIMITERS_LOCK:
        lim = _LIMITERS.get(ident)
        if lim is None:
            lim = _LIMITERS[ident] = RateLimiter(per_minute)
        elif per_minute < lim.per_minute:
            lim.per_minute, lim._rate = float(per_minute), per_minute / 60.0
        return lim


def all_limiters() -> list[RateLimiter]:
    with _LIMITERS_LOCK:
        return list(_LIMITERS.values())


class AlpacaSession(requests.Session):
    """A requests Session that enforces the caller's CallBudget, the key's RateLimiter and a per-attempt timeout."""

    def __init__(self, timeout_s: float, limiter: RateLimiter | None = None, default_call_s: float | None = None) -> None:
        super().__init__()
        self.timeout_s = timeout_s
        self.limiter = limiter
        self.default_call_s = default_call_s if default_call_s is not None else timeout_s
        self.last_status: int | None = None

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        budget = current_budget()
        if budget is None:  # a call made outside any budget still gets one: never unbounded
            with call_budget(self.default_call_s, label="unbudgeted"):
                return self.request(method, url, *args, **kwargs)
        if budget.sent >= budget.max_requests:
            raise TooManyRequests(f"not sent: this call already made {budget.sent} requests (its limit)")
        if budget.remaining() <= 0.01:
            raise DeadlineExceeded("not sent: the call's deadline passed")
        if self.limiter is not None:
            self.limiter.acquire(budget.remaining())
        if budget.before_send is not None:  # e.g. the trading state re-read just before an order's POST
            budget.before_send()
        if (left := budget.remaining()) <= 0.01:
            raise DeadlineExceeded("not sent: the call's deadline passed while waiting for a request slot")
        given = kwargs.get("timeout")
        per_attempt = self.timeout_s if given is None else float(given) if not isinstance(given, tuple) else self.timeout_s
        kwargs["timeout"] = min(per_attempt, left)
        budget.sent += 1
        verb = method if isinstance(method, str) else method.decode()
        response = super().request(verb, url, *args, **kwargs)
        self.last_status = response.status_code
        if self.limiter is not None:
            self.limiter.observe(response.status_code, response.headers)
        return response


def was_sent(exc: BaseException) -> bool:
    """False only when the failure proves nothing reached Alpaca."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        if isinstance(e, NotSent):
            return False
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return True
