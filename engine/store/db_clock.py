"""One clock for the engine lease and engine liveness across machines: the database server's.

The lease row's expiry and the heartbeat's `last_beat` are compared by processes on different machines (two
engines, the web). Each machine's own clock would let its skew decide: a standby whose clock runs ahead takes a
healthy lease, one that runs behind takes over late, a web ahead of the engine calls it dead. So on a real
deployment (a *wall* clock: `SystemClock`, marked `wall = True`) every lease and liveness time is read from the
database server in the transaction that uses it (PostgreSQL `clock_timestamp()`, SQLite its `'now'`, which is
the one machine's clock all its processes share).

Simulated time (a `ManualClock` in tests, a backtest's `SimClock`: no `wall` mark) is its own frame: the lease
and the heartbeat follow that clock, so tests still move lease expiry by hand.

The trading code keeps using the local clock for everything else; `SkewMonitor` logs when it drifts from the
database's by more than SKEW_WARN_S, because then the engine's audit and order times are off as well.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from engine.clock import Clock

log = logging.getLogger(__name__)

SKEW_WARN_S = 2.0  # the local clock off the database's by more than this: warned (NTP keeps it well under)
WALL_FRAME_S = 300.0  # a caller's `now` this close to the database's clock is a wall-clock reading, not simulated


def is_wall_clock(clock: Clock) -> bool:
    """A clock that reads this machine's time (so the database's clock replaces it for lease decisions)."""
    return bool(getattr(clock, "wall", False))


def server_now_column(dialect: str) -> ColumnElement[Any]:
    """The database server's current time as a column, to read in the same statement as the lease row."""
    if dialect == "postgresql":
        return func.clock_timestamp()  # not now(): that is the transaction's start, before any lock wait
    return func.strftime("%Y-%m-%d %H:%M:%f", "now")


def as_utc(value: object) -> datetime:
    """The server-time column's value (aware on PostgreSQL, text on SQLite) as an aware UTC datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"the database returned {value!r} for its current time")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def server_now(session: Session) -> datetime:
    """The database server's clock, now (one round trip, in the session's transaction)."""
    return as_utc(session.scalar(select(server_now_column(_dialect(session)))))


def lease_now(session: Session, clock: Clock) -> datetime:
    """The time lease and heartbeat decisions use: the database's for a wall clock, else the simulated clock's."""
    return server_now(session) if is_wall_clock(clock) else clock.now()


def lease_time(session: Session, clock: Clock) -> tuple[datetime, timedelta]:
    """(lease_now, how far `clock` runs ahead of it): a lease time plus that offset is the same moment on
    `clock`, which is what a caller that sleeps by its own clock needs (the standby's beat at the lapse)."""
    if not is_wall_clock(clock):
        return clock.now(), timedelta(0)
    server = server_now(session)
    return server, clock.now() - server


def reader_now(session: Session, now: datetime) -> datetime:
    """The time to age a heartbeat by, for a reader that only has its own `now` (the web, the CLI).

    A `now` within WALL_FRAME_S of the database's clock is a wall-clock reading: the heartbeat was written in the
    database's time, so it is aged by the database's clock and the reader's skew drops out. A `now` farther off
    is simulated time, in which a simulated engine also wrote its heartbeat: it is used as given."""
    server = server_now(session)
    return server if abs((now - server).total_seconds()) <= WALL_FRAME_S else now


@dataclass
class SkewMonitor:
    """Reports this engine's clock drifting from the database's: once when it passes SKEW_WARN_S, once back."""

    skew_s: float | None = None  # local minus database, at the last beat
    warned: bool = False

    def note(self, engine_id: str, ahead: timedelta) -> float:
        """`ahead`: how far this machine's clock runs ahead of the database's (lease_time's second value)."""
        skew = ahead.total_seconds()
        self.skew_s = skew
        if abs(skew) > SKEW_WARN_S and not self.warned:
            self.warned = True
            log.warning("engine %s: this machine's clock is %+.1f s off the database's clock (more than %.0f s); the "
                        "lease and heartbeat use the database's clock, but order, audit and job times use this one: "
                        "fix its time sync (chrony/ntpd)", engine_id, skew, SKEW_WARN_S)
        elif abs(skew) <= SKEW_WARN_S and self.warned:
            self.warned = False
            log.info("engine %s: this machine's clock is back within %.0f s of the database's (%+.1f s)",
                     engine_id, SKEW_WARN_S, skew)
        return skew
