"""How each Alpaca call is made: through a circuit breaker, with backoff retries for idempotent calls.

Kept apart from the broker so the policy is in one place: transport failures (network, timeout,
5xx, 429/504 after alpaca-py's own retries) count against the breaker and raise BrokerUnavailable;
answers the broker gave on purpose (404, 422, 403...) come back as an Outcome and never trip it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pybreaker
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from engine.trading.brokers.alpaca_http import Failure, classify, describe
from engine.trading.brokers.base import BrokerError, BrokerUnavailable


class AlpacaCircuitOpen(BrokerUnavailable):
    """The circuit breaker is open: the call failed fast and nothing was sent to Alpaca."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a call produced: a value, or a failure the broker answered with (never a transport failure)."""

    value: Any = None
    failure: Failure | None = None
    error: BaseException | None = None


class _Transient(Exception):
    """Carries a transient failure through the breaker so it counts as one."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(describe(error))
        self.error = error


def default_breaker() -> pybreaker.CircuitBreaker:
    """Five consecutive transport failures open the circuit for 30 s."""
    return pybreaker.CircuitBreaker(fail_max=5, reset_timeout=30, name="alpaca")


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, BrokerUnavailable) and not isinstance(exc, AlpacaCircuitOpen)


class GuardedCaller:
    """Runs SDK calls under one breaker and one retry policy; ``where(op)`` names the call in messages."""

    def __init__(self, where: Callable[[str], str], breaker: pybreaker.CircuitBreaker | None = None,
                 retry_attempts: int = 3, retry_wait_s: float = 0.2, retry_max_wait_s: float = 2.0) -> None:
        self.where = where
        self.breaker = breaker if breaker is not None else default_breaker()
        self.retry_attempts = max(1, retry_attempts)
        self.retry_wait_s = retry_wait_s
        self.retry_max_wait_s = retry_max_wait_s

    def state(self) -> str:
        return str(self.breaker.current_state)

    def attempt(self, op: str, fn: Callable[[], Any]) -> Outcome:
        """One call through the breaker. Transport failures raise BrokerUnavailable; answers return."""
        sent = False

        def guarded() -> Outcome:
            nonlocal sent
            sent = True
            try:
                return Outcome(value=fn())
            except Exception as exc:
                kind = classify(exc)
                if kind is None:
                    raise
                if kind is Failure.UNAVAILABLE:
                    raise _Transient(exc) from exc
                return Outcome(failure=kind, error=exc)

        try:
            return self.breaker.call(guarded)
        except _Transient as t:
            raise BrokerUnavailable(f"{self.where(op)}: {t}. Alpaca is unreachable or failing; retry shortly.") from t.error
        except pybreaker.CircuitBreakerError as exc:
            if sent:  # this very call failed and tripped the breaker: its outcome is as unknown as any failure
                raise BrokerUnavailable(
                    f"{self.where(op)}: failed, and repeated failures opened the circuit breaker; "
                    "calls are paused until it resets."
                ) from exc
            raise AlpacaCircuitOpen(
                f"{self.where(op)}: not sent, the circuit breaker is open after repeated failures; "
                f"it retries automatically after {self.breaker.reset_timeout:g} s. Check Alpaca's status."
            ) from None

    def call(self, op: str, fn: Callable[[], Any], idempotent: bool = True) -> Outcome:
        """attempt(), retried with exponential backoff for idempotent calls (never when the circuit is open)."""
        if not idempotent:
            return self.attempt(op, fn)
        retrying = Retrying(
            stop=stop_after_attempt(self.retry_attempts),
            wait=wait_exponential(multiplier=self.retry_wait_s, max=self.retry_max_wait_s),
            retry=retry_if_exception(_retryable),
            reraise=True,
        )
        return retrying(self.attempt, op, fn)

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
