"""The market warm-up of a fresh store, stored in chunks that survive an interrupted start-up.

A warm-up of many polls (REGIMEDESK_WARMUP_POLLS up to 1,000,000) takes longer than the lease. It used to be one
fenced write of everything at the end: a start-up cut short (the lease lost, a SIGTERM) stored nothing and the
next start-up polled it all again. Now each chunk is one fenced transaction that also records how far the
warm-up got (WARMUP_KEY), so the next start-up continues after the last stored bar with the polls still
missing; and the loop asks, between polls, whether the engine is stopping or lost its lease, so a SIGTERM
during a warm-up exits within seconds (issue 9 asks for 10 s).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from engine.context import EngineContext
from engine.market.types import Bar, MarketUpdate
from engine.store.keyvalue import get_value, put_value

WARMUP_KEY = "market.warmup"  # {"polls": the warm-up asked, "done": polls stored}: a cut-short warm-up continues
CHUNK_BARS = 20_000  # bars per fenced transaction: well under a second to write, so a renewal never waits long

# Set by the engine around its start-up step (engine/scheduler.py): returns why the warm-up must stop, or None
_interrupt: ContextVar[Callable[[], str | None] | None] = ContextVar("warmup_interrupt", default=None)


class WarmupInterrupted(Exception):
    """The engine is stopping or lost its lease: the warm-up stopped; its stored chunks are kept."""


class StoreUpdate(Protocol):
    def __call__(self, ctx: EngineContext, update: MarketUpdate, received_at: datetime | None = None,
                 also: Callable[[Session], None] | None = None) -> None: ...


@dataclass
class WarmupResult:
    bars: int = 0  # bars stored by this call
    last_bars: list[Bar] = field(default_factory=list)  # the newest chunk's bars (the market clock moves to them)


@contextmanager
def interruptible(check: Callable[[], str | None]) -> Iterator[None]:
    """Within the block, a warm-up asks `check` before each poll and stops when it gives a reason."""
    token = _interrupt.set(check)
    try:
        yield
    finally:
        _interrupt.reset(token)


def polls_done(session: Session, last_ts: datetime | None) -> int:
    """Warm-up polls already stored: none on a fresh store; on one with bars, what the warm-up record says
    (a store warmed in one go, or from before this record, counts as fully warmed)."""
    if last_ts is None:
        return 0
    value: Any = get_value(session, WARMUP_KEY)
    if not isinstance(value, dict):
        return 1 << 30
    return int(value.get("done", 0))


def warm_up(ctx: EngineContext, polls: int, done: int, target: int, store: StoreUpdate) -> WarmupResult:
    """Poll the source `polls` times (the warm-up's polls `done`+1 to `target`), storing each chunk of about
    CHUNK_BARS bars in a fenced transaction with the progress; the newest option chain only with the last."""
    source = ctx.source
    assert source is not None
    check = _interrupt.get()
    result = WarmupResult()
    merged, in_chunk = MarketUpdate(), 0
    for i in range(polls):
        why = check() if check is not None else None
        if why:
            raise WarmupInterrupted(f"warm-up stopped after {done} of {target} polls: {why}; the stored part is kept")
        update = source.poll()
        merged.bars.extend(update.bars)
        merged.true_regimes.extend(update.true_regimes)
        merged.chains = update.chains or merged.chains  # keep only the newest chain of the warm-up
        in_chunk += 1
        last = i == polls - 1
        if not last and len(merged.bars) < CHUNK_BARS:
            continue
        done += in_chunk
        chunk = merged if last else MarketUpdate(bars=merged.bars, true_regimes=merged.true_regimes)
        store(ctx, chunk, also=_progress(ctx, {"polls": target, "done": done}))
        result.bars += len(merged.bars)
        result.last_bars = merged.bars
        merged, in_chunk = MarketUpdate(chains=merged.chains), 0
    return result


def _progress(ctx: EngineContext, value: dict[str, int]) -> Callable[[Session], None]:
    """The write that records how far the warm-up got, in the same transaction as the chunk it counts."""
    def write(session: Session) -> None:
        put_value(session, WARMUP_KEY, value, ctx.clock.now())

    return write
