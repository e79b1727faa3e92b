"""The circuit breaker's bookkeeping around Alpaca calls, with no lock held while a call runs.

Why not ``pybreaker.CircuitBreaker.call``: pybreaker 1.4.1 holds one RLock for the whole call, so
every Alpaca call in the process (rate-limiter wait and HTTP request included) queued behind the
slowest one; a kill switch's cancel waited for two slow reads and could miss its own deadline.
Here the pybreaker object keeps the state, counters, reset timeout and listeners (health checks,
auto-halts and tests read it as before); a small lock guards only the reads and writes of them.

Semantics kept from pybreaker: ``fail_max`` consecutive failures open the circuit; after
``reset_timeout`` one trial call is let through (half-open), and its success closes the circuit,
its failure opens it again. Calls arriving while that trial is out fail fast (nothing sent)
instead of queueing behind it. A call that sent nothing (``neutral``) neither counts nor resets.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pybreaker


class BreakerGate:
    """admit() before a call, then exactly one of success() / failure() / neutral() after it."""

    def __init__(self, breaker: pybreaker.CircuitBreaker) -> None:
        self.breaker = breaker
        self._lock = threading.Lock()
        self._trial_out = False  # a half-open trial call is running

    def admit(self, fn: Callable[..., Any]) -> bool:
        """True when this call is the half-open trial; raises CircuitBreakerError when it must not run."""
        cb = self.breaker
        with self._lock:
            state = cb.current_state
            if state == pybreaker.STATE_OPEN:
                opened_at = cb._state_storage.opened_at
                if opened_at and datetime.now(UTC) < opened_at + timedelta(seconds=cb.reset_timeout):
                    raise pybreaker.CircuitBreakerError("Timeout not elapsed yet, circuit breaker still open")
                cb.half_open()  # notifies the listeners, as pybreaker does
                state = pybreaker.STATE_HALF_OPEN
            trial = state == pybreaker.STATE_HALF_OPEN
            if trial:
                if self._trial_out:
                    raise pybreaker.CircuitBreakerError("a trial call is out, circuit breaker still half-open")
                self._trial_out = True
        for listener in cb.listeners:
            listener.before_call(cb, fn)
        return trial

    def success(self, trial: bool) -> None:
        """The call reached Alpaca and was answered: the failure count restarts; a half-open circuit closes."""
        cb = self.breaker
        with self._lock:
            if trial:
                self._trial_out = False
            cb._state_storage.reset_counter()
            if cb.current_state == pybreaker.STATE_HALF_OPEN:
                cb._state_storage.increment_success_counter()
                if cb.success_counter >= cb.success_threshold:
                    cb.close()
        for listener in cb.listeners:
            listener.success(cb)

    def failure(self, trial: bool, exc: BaseException) -> bool:
        """Count one failure; True when this failure opened the circuit."""
        cb = self.breaker
        if not cb.is_system_error(exc):
            self.success(trial)
            return False
        with self._lock:
            if trial:
                self._trial_out = False
            cb._inc_counter()
            for listener in cb.listeners:
                listener.failure(cb, exc)
            state = cb.current_state
            trips = (state == pybreaker.STATE_HALF_OPEN
                     or (state == pybreaker.STATE_CLOSED and cb.fail_counter >= cb.fail_max))
            if trips:
                cb.open()
            return trips

    def neutral(self, trial: bool) -> None:
        """Nothing was sent (deadline, rate budget, refused before the POST): the circuit learns nothing."""
        if trial:
            with self._lock:
                self._trial_out = False
