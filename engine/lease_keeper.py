"""Keeps a lease this engine already holds renewed while a long step runs inside the beat that won it.

The start-up steps (the market warm-up, Alpaca's history fetch, the start-up reconcile) run inside the beat
that took the lease, and no other beat runs meanwhile. A start-up longer than the lease (10 s) used to lapse
it: the warm-up's fenced write was refused, the next beat took the lease again with a new epoch and ran the
same start-up, for ever (audit 3, defect 1). `LeaseKeeper` renews the lease from a thread of its own while
the start-up runs.

Fencing stays strict: a renewal only extends the lease when this engine still holds it with the epoch it was
granted and it has not lapsed. It never takes a lapsed lease back (a standby may have led meanwhile); it
revokes the fence instead, so every later fenced write of the start-up is refused and the engine steps down.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from types import TracebackType

from engine.context import EngineContext
from engine.jobs import LEASE_LOCK_WAIT_MS, LEASE_SECONDS
from engine.lease import fence_of
from engine.store import pg_locks
from engine.store.db_clock import lease_time
from engine.store.models import EngineHeartbeat, EngineLease

log = logging.getLogger(__name__)

RENEW_EVERY_S = 2.0  # as often as the regular beat: four renewals may fail before the lease lapses


def renew_held_lease(ctx: EngineContext, epoch: int) -> float | None:
    """Extend the lease and beat, only if this engine holds it with `epoch` and it has not lapsed.

    Returns the time.monotonic() until which the lease surely holds, or None when it was lost (the fence is
    then revoked and the engine told to step down). A store error is raised: the caller retries, and the
    lease lapses by itself if the store stays away.
    """
    t0 = time.monotonic()
    why = ""
    with ctx.store.write() as session:
        pg_locks.set_lock_timeout(session, LEASE_LOCK_WAIT_MS)
        lease = session.get(EngineLease, 1, with_for_update=ctx.store.dialect == "postgresql")
        now, _ahead = lease_time(session, ctx.clock)
        if lease is None:
            why = "no lease row"
        elif lease.holder != ctx.engine_id or lease.epoch != epoch:
            why = f"engine {lease.holder} took over with epoch {lease.epoch}"
        elif lease.lease_until <= now:
            why = f"the lease lapsed at {lease.lease_until.isoformat()}"
        else:
            lease.lease_until = now + timedelta(seconds=LEASE_SECONDS)
            beat = session.get(EngineHeartbeat, ctx.engine_id)
            if beat is None:
                session.add(EngineHeartbeat(engine_id=ctx.engine_id, host=socket.gethostname(), pid=os.getpid(),
                                            started_at=now, last_beat=now, status="active"))
            else:
                beat.last_beat, beat.status = now, "active"
    fence = fence_of(ctx)
    valid_until = t0 + LEASE_SECONDS - 0.5
    if why:
        if fence is not None and fence.epoch is not None:
            fence.lost(why)  # revokes, logs, steps the engine down; the start-up's next fenced write is refused
        return None
    if fence is not None and not fence.extend(epoch, valid_until):
        return None  # a fenced write found the lease gone meanwhile: it stays revoked
    return valid_until


class LeaseKeeper:
    """`with LeaseKeeper(ctx, epoch, on_renewed):` renews the held lease every RENEW_EVERY_S until the block ends."""

    def __init__(self, ctx: EngineContext, epoch: int | None, on_renewed: Callable[[float], None]) -> None:
        self.ctx, self.epoch, self.on_renewed = ctx, epoch, on_renewed
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> LeaseKeeper:
        if self.epoch is not None:
            self._thread = threading.Thread(target=self._run, name="engine-lease-keeper", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join(timeout=LEASE_SECONDS)  # a renewal in flight ends within its lock and busy timeouts

    def _run(self) -> None:
        assert self.epoch is not None
        while not self._done.wait(RENEW_EVERY_S):
            try:
                valid_until = renew_held_lease(self.ctx, self.epoch)
            except Exception:  # noqa: BLE001 - the store is busy or down: try again; the lease lapses if it stays so
                log.warning("engine %s could not renew its lease during start-up", self.ctx.engine_id, exc_info=True)
                continue
            if valid_until is None:
                return  # lost: nothing more to renew
            self.on_renewed(valid_until)
