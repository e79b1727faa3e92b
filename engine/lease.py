"""Fencing: an engine writes orders, trading state, fills and positions only while it holds the lease.

The lease row (engine_lease, renewed by jobs.heartbeat_lease) carries an epoch that goes up by one on
every takeover. The engine that takes the lease keeps that epoch in its `LeaseFence` (ctx.fence), and
every write that matters calls `check_fence(session, ctx)` inside its own transaction: the lease row is
read there (on PostgreSQL with FOR SHARE, so a takeover commits either wholly before or wholly after
the write), and a holder, epoch or expiry that no longer matches raises `FencedOut` and rolls the whole
transaction back. An old leader that was frozen (SIGSTOP, a VM pause) past its lease and wakes up after
a standby took over therefore records nothing, and the gateway records an order before it calls the
broker, so it sends nothing either; the engine then steps down (`on_lost`) until its next beat.

Only engine writes are fenced: a context without a fence (the web, the command line) writes as before,
so the kill switch works with the engine down.

Expiry is judged by the database server's clock (engine/store/db_clock.py), read in the same statement as the
lease row, never by this machine's: engines and the web on machines whose clocks disagree must agree on when a
lease lapses. A simulated clock (tests, backtests) is used as it is.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.protocols import ClockContext
from engine.store.db_clock import SkewMonitor, as_utc, is_wall_clock, server_now_column
from engine.store.models import EngineLease

log = logging.getLogger(__name__)


class FencedOut(Exception):
    """This engine no longer holds the engine lease: the write was refused and rolled back."""


@dataclass
class LeaseFence:
    """The lease epoch this engine holds (None: it holds none) and until when it surely holds it."""

    engine_id: str
    epoch: int | None = None
    valid_until: float = 0.0  # time.monotonic() until which the lease surely still holds (renewed less than a lease ago)
    on_lost: Callable[[], None] | None = None  # the engine steps down (EngineService)
    skew: SkewMonitor = field(default_factory=SkewMonitor)  # this machine's clock against the database's, per beat
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def grant(self, epoch: int, valid_until: float) -> None:
        with self._lock:
            self.epoch, self.valid_until = epoch, valid_until

    def extend(self, epoch: int, valid_until: float) -> bool:
        """A renewal of the lease already held (engine/lease_keeper.py): only while `epoch` is still the one
        granted, so a renewal racing a refusal that revoked the fence never grants it back."""
        with self._lock:
            if self.epoch != epoch:
                return False
            self.valid_until = max(self.valid_until, valid_until)
            return True

    def revoke(self) -> None:
        with self._lock:
            self.epoch, self.valid_until = None, 0.0

    def surely_held(self) -> bool:
        """No store round trip: the lease was renewed recently enough that nobody else can hold it yet."""
        with self._lock:
            return self.epoch is not None and time.monotonic() < self.valid_until

    def lost(self, why: str) -> FencedOut:
        held = self.epoch
        self.revoke()
        log.warning("engine %s lost the lease (epoch %s): %s; stepping down", self.engine_id, held, why)
        if self.on_lost is not None:
            try:
                self.on_lost()
            except Exception:  # noqa: BLE001 - stepping down must never mask the refusal itself
                log.exception("stepping down failed")
        return FencedOut(f"engine {self.engine_id} no longer holds the engine lease ({why}); nothing was written")


def fence_of(ctx: ClockContext) -> LeaseFence | None:
    return getattr(ctx, "fence", None)


def current_epoch(ctx: ClockContext) -> int | None:
    fence = fence_of(ctx)
    return fence.epoch if fence is not None else None


def check_fence(session: Session, ctx: ClockContext) -> int | None:
    """Inside a write transaction: raise FencedOut unless this engine still holds the lease it was granted;
    return the epoch checked (None: not an engine).

    A context without a fence (web, CLI) is not an engine and passes. Call it first in the transaction
    (lock order: the lease row before the trading-state row, as the heartbeat never takes the latter).
    """
    fence = fence_of(ctx)
    if fence is None:
        return None
    epoch = fence.epoch
    if epoch is None:
        raise fence.lost("this engine is not the active one")
    dialect = session.get_bind().dialect.name
    wall = is_wall_clock(ctx.clock)
    # the database's time in the same statement: no extra round trip. On PostgreSQL it may be taken before a
    # wait for the row; a takeover in that wait changed holder and epoch (refused below), and one that starts
    # after it waits for this transaction, so a write never commits under a lease another engine holds
    columns: list[Any] = [EngineLease.holder, EngineLease.epoch, EngineLease.lease_until]
    if wall:
        columns.append(server_now_column(dialect).label("server_now"))
    query = select(*columns).where(EngineLease.id == 1)
    if dialect == "postgresql":
        query = query.with_for_update(read=True)  # FOR SHARE: a takeover waits for this transaction, or it for the takeover
    row = session.execute(query).one_or_none()
    if row is None:
        raise fence.lost("no lease row")
    if row.holder != fence.engine_id or row.epoch != epoch:
        raise fence.lost(f"engine {row.holder} took over with epoch {row.epoch}")
    now = as_utc(row.server_now) if wall else ctx.clock.now()
    if row.lease_until <= now:
        raise fence.lost(f"the lease lapsed at {row.lease_until.isoformat()}")
    return epoch


def require_lease(ctx: ClockContext, what: str) -> None:
    """Outside a transaction, right before an irreversible outside call (an order to the broker): refuse
    when this engine's lease may have lapsed (it was frozen or stalled since the last renewal)."""
    fence = fence_of(ctx)
    if fence is not None and not fence.surely_held():
        raise fence.lost(f"its lease may have lapsed before {what}")
