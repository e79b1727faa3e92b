"""How each Alpaca call is made: one deadline, a circuit breaker, backoff retries for idempotent calls.

Kept apart from the broker so the policy is in one place (alpaca-py's own 429/504 retries are off):
transport failures (network, timeout, 5xx, 504) count against the breaker and raise BrokerUnavailable;
a 429 raises AlpacaRateLimited and a request never sent (deadline, rate budget) AlpacaNotSent, neither
tripping the breaker; answers the broker gave on purpose (404, 422, 403...) come back as an Outcome.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pybreaker

from engine.trading.brokers.alpaca_breaker import BreakerGate
from engine.trading.brokers.alpaca_http import Failure, classify, describe
from engine.trading.brokers.alpaca_limits import NotSent, call_budget, current_budget
from engine.trading.brokers.base import BrokerError, BrokerNotSent, BrokerUnavailable


class AlpacaNotSent(BrokerNotSent):
    """Nothing was sent to Alpaca (no time or no request budget left, or the circuit is open): certain, safe to retry."""


class AlpacaCircuitOpen(AlpacaNotSent):
    """The circuit breaker is open: the call failed fast and nothing was sent to Alpaca."""


class AlpacaRateLimited(BrokerUnavailable):
    """Alpaca answered 429: it did nothing with the request; the shared limiter waits out its Retry-After."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a call produced: a value, or a failure the broker answered with (never a transport failure)."""

    value: Any = None
    failure: Failure | None = None
    error: BaseException | None = None


def default_breaker() -> pybreaker.CircuitBreaker:
    """Five consecutive transport failures open the circuit for 30 s."""
    return pybreaker.CircuitBreaker(fail_max=5, reset_timeout=30, name="alpaca")


class GuardedCaller:
    """Runs SDK calls under one breaker, one retry policy and one deadline; ``where(op)`` names the call in messages.

    ``deadline_s`` bounds a whole call: every attempt, every backoff wait, every page the SDK follows
    (the AlpacaSession checks the budget before each request). alpaca-py's own retries are off
    (harden_client), so the attempts here are the only ones.
    """

    def __init__(self, where: Callable[[str], str], breaker: pybreaker.CircuitBreaker | None = None,
                 retry_attempts: int = 3, retry_wait_s: float = 0.2, retry_max_wait_s: float = 2.0,
                 deadline_s: float = 10.0, max_requests: int = 50) -> None:
        self.where = where
        self.breaker = breaker if breaker is not None else default_breaker()
        self.gate = BreakerGate(self.breaker)  # counts outcomes without holding a lock across the call
        self.retry_attempts = max(1, retry_attempts)
        self.retry_wait_s = retry_wait_s
        self.retry_max_wait_s = retry_max_wait_s
        self.deadline_s = deadline_s
        self.max_requests = max_requests

    def state(self) -> str:
        return str(self.breaker.current_state)

    def budget(self, op: str, seconds: float | None = None) -> Any:
        """A CallBudget for one call (nested inside any budget the job set)."""
        return call_budget(self.deadline_s if seconds is None else seconds, self.max_requests, label=op)

    def attempt(self, op: str, fn: Callable[[], Any]) -> Outcome:
        """One call through the breaker (alpaca_breaker: no lock held across it). Transport failures raise
        BrokerUnavailable; answers return.

        Raises AlpacaNotSent when nothing left this process (deadline, rate budget), AlpacaRateLimited
        on a 429 (neither counts against the breaker: Alpaca is not failing).
        """
        if current_budget() is None:
            with self.budget(op):
                return self.attempt(op, fn)
        try:
            trial = self.gate.admit(fn)
        except pybreaker.CircuitBreakerError:
            raise AlpacaCircuitOpen(
                f"{self.where(op)}: not sent, the circuit breaker is open after repeated failures; "
                f"it retries automatically after {self.breaker.reset_timeout:g} s. Check Alpaca's status."
            ) from None
        try:  # no lock is held while the call runs: other threads' calls go out meanwhile
            out = Outcome(value=fn())
        except NotSent as exc:
            self.gate.neutral(trial)
            out = Outcome(failure=Failure.UNAVAILABLE, error=exc)
        except BaseException as exc:
            kind = classify(exc) if isinstance(exc, Exception) else None
            if kind is not None and kind is not Failure.UNAVAILABLE:
                self.gate.success(trial)  # Alpaca answered (4xx, 429): it is up
                out = Outcome(failure=kind, error=exc)
            elif self.gate.failure(trial, exc):  # this very call tripped the breaker: its outcome is unknown
                raise BrokerUnavailable(
                    f"{self.where(op)}: failed, and repeated failures opened the circuit breaker; "
                    "calls are paused until it resets."
                ) from exc
            elif kind is None:
                raise
            else:
                raise BrokerUnavailable(f"{self.where(op)}: {describe(exc)}. Alpaca is unreachable or failing; "
                                        "retry shortly.") from exc
        else:
            self.gate.success(trial)
        if isinstance(out.error, NotSent):
            raise AlpacaNotSent(f"{self.where(op)}: {out.error}.") from out.error
        if out.failure is Failure.RATE_LIMITED:
            raise AlpacaRateLimited(f"{self.where(op)}: {describe(out.error) if out.error else 'HTTP 429'} "
                                    "(Alpaca's rate limit); nothing was done.") from out.error
        return out

    def call(self, op: str, fn: Callable[[], Any], idempotent: bool = True, seconds: float | None = None) -> Outcome:
        """attempt() within one deadline; idempotent calls are retried with backoff while time is left.

        A 429 is retried for any call (Alpaca did nothing); the shared limiter holds the retry until
        Alpaca's Retry-After, or gives up at once when that is past the deadline.
        """
        with self.budget(op, seconds) as budget:
            last: BrokerUnavailable | None = None
            for i in range(self.retry_attempts):
                try:
                    return self.attempt(op, fn)
                except AlpacaCircuitOpen as exc:
                    if budget.sent:  # earlier attempts of this call went out: their outcome is unknown
                        raise BrokerUnavailable(
                            f"{self.where(op)}: {budget.sent} request(s) sent and failed ({last}); repeated failures "
                            "then opened the circuit breaker, so no further attempt was made."
                        ) from exc
                    raise
                except AlpacaNotSent as exc:
                    if last is None or isinstance(last, AlpacaRateLimited):
                        raise  # nothing Alpaca acted on: the outcome is certain
                    raise BrokerUnavailable(f"{last} Then: {exc}") from exc
                except AlpacaRateLimited as exc:
                    last = exc
                    continue  # the limiter paces the next attempt (or refuses it within the deadline)
                except BrokerUnavailable as exc:
                    last = exc
                    if not idempotent:
                        raise
                wait = min(self.retry_max_wait_s, self.retry_wait_s * (2 ** i))
                if i + 1 >= self.retry_attempts or budget.remaining() <= wait + 0.05:
                    break
                time.sleep(wait)
            assert last is not None
            raise last

    def value(self, op: str, out: Outcome) -> Any:
        """The value of an outcome, or the domain error its failure means."""
        if out.failure is None:
            return out.value
        detail = describe(out.error) if out.error else out.failure.value
        if out.failure is Failure.AUTH:
            raise BrokerError(f"{self.where(op)}: authentication failed ({detail}). "
                              "Check APCA_API_KEY_ID / APCA_API_SECRET_KEY and paper vs live keys.")
        raise BrokerError(f"{self.where(op)}: Alpaca refused ({detail}).")

    def get(self, op: str, fn: Callable[[], Any]) -> Any:
        """An idempotent call's value (retried; errors mapped)."""
        return self.value(op, self.call(op, fn))
