"""One clock for the engine lease and engine liveness across machines: the database server's.

The lease row's expiry and the heartbeat's `last_beat` are compared by processes on different machines (two
engines, the web). Each machine's own clock would let its skew decide: a standby whose clock runs ahead takes a
healthy lease, one that runs behind takes over late, a web ahead of the engine calls it dead. So on a real
deployment (a *wall* clock: `SystemClock`, marked `wall = True`) every lease and liveness time is read from the
database server in the transaction that uses it (PostgreSQL `clock_timestamp()`, SQLite its `'now'`, which is
the one machine's clock all its processes share).

Simulated time (a `ManualClock` in tests, a backtest's `SimClock`: no `wall` mark) is its own frame: the lease
and the heartbeat follow that clock, so tests still move lease expiry by hand.

A reader that only has a `now` (the web, the CLI: engine_liveness, engine_alive, the dead-man's switch) is told
apart by that `now` itself: a wall-clock reading is this machine's clock read a moment earlier, however far this
machine is off the database, so it is replaced by the database's clock (as is a `now` within WALL_FRAME_S of the
database's); anything else is simulated time and used as given. (Closeness to the database's clock alone is not
enough: a machine more than a few minutes off would then age the heartbeat by its own clock, and the dead-man's
switch would go blind or trip falsely.)

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
READING_AGE_S = 60.0  # a `now` at most this much behind this machine's clock is a reading of it (taken before the
READING_AHEAD_S = 1.0  # query: a pool wait, a slow callback), or this little ahead of it (a clock step), not simulated
WALL_FRAME_S = 300.0  # a `now` this close to the database's clock is taken as a wall-clock reading as well


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


def machine_now() -> datetime:
    """This machine's wall clock (what SystemClock reads); one place, so a test can put the machine off by a skew."""
    return datetime.now(UTC)


def is_wall_reading(now: datetime) -> bool:
    """`now` was read from this machine's wall clock a moment ago (not simulated time), whatever its skew."""
    behind = (machine_now() - now).total_seconds()
    return -READING_AHEAD_S <= behind <= READING_AGE_S


def reader_now(session: Session, now: datetime, wall: bool | None = None) -> datetime:
    """The time to age a heartbeat by, for a reader (the web, the CLI): the database's clock for a wall-clock
    reader, in which every real engine writes its beat, so no machine's skew decides; `now` for simulated time, in
    which a simulated engine also wrote its beat. `wall` when the caller knows its clock (is_wall_clock); else a
    `now` that is a reading of this machine's clock (any skew) or within WALL_FRAME_S of the database's is wall."""
    if wall is False:
        return now
    server = server_now(session)
    if wall is None and not is_wall_reading(now) and abs((now - server).total_seconds()) > WALL_FRAME_S:
        return now  # neither this machine's clock nor near the database's: simulated time
    _READER_SKEW.note(machine_now() - server)
    return server


@dataclass
class ReaderSkew:
    """Reports this reader's clock (the web's, the CLI's) drifting from the database's: once past SKEW_WARN_S,
    once back. The liveness answer does not depend on it; the reader's own times (audit, orders) do."""

    warned: bool = False

    def note(self, ahead: timedelta) -> None:
        skew = ahead.total_seconds()
        if abs(skew) > SKEW_WARN_S and not self.warned:
            self.warned = True
            log.warning("this machine's clock is %+.1f s off the database's clock; engine liveness and the "
                        "dead-man's switch use the database's clock, but this process's audit and order times use "
                        "this one: fix its time sync (chrony/ntpd)", skew)
        elif abs(skew) <= SKEW_WARN_S and self.warned:
            self.warned = False
            log.info("this machine's clock is back within %.0f s of the database's (%+.1f s)", SKEW_WARN_S, skew)


_READER_SKEW = ReaderSkew()


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
