"""Injected time, so jobs, tests and replays are deterministic."""
from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Current time as an aware UTC datetime."""
        ...


class SystemClock:
    """Wall-clock time in UTC."""

    # this machine's clock, which may be off other machines': lease and liveness use the database's clock
    # instead (engine/store/db_clock.py); a simulated clock has no such mark and is used as it is
    wall = True

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta | float) -> datetime:
        if not isinstance(delta, timedelta):
            delta = timedelta(seconds=float(delta))
        with self._lock:
            self._now += delta
            return self._now


def utcnow() -> datetime:
    """Shorthand for code paths that have no injected clock (CLI entry points)."""
    return datetime.now(UTC)
