"""The market clock: the time market events carry (bars, orders, fills, account and regime snapshots).

With a real-time source (Alpaca) it is the wall clock. With a simulated or replayed source it is the
market's own time: the end of the newest bar the engine has received and booked (the open of the bar the
next poll starts with). So when the simulated market runs accelerated (REGIMEDESK_SIM_MINUTES_PER_TICK > 1)
an order is stamped at the open of the bar it will first meet, its fills inside the bar they filled on, and
the account snapshot after them at the same market time as the bars on the charts. It moves only when the
engine stores a tick, after the paper broker matched it, and stands still while no engine runs the market.

Every process shares it through the store (engine_kv ``market.clock``): the engine that runs the market
writes it each tick; the web (a kill switch with the engine down), the CLI and a standby read it.

Operator actions (audit), commands, the trading state's changes, heartbeats, leases, job runs and health
stay on the wall clock (``ctx.clock``). To compare the two (a command's wall-clock start with order times,
a wall-clock window over order times) use ``at_wall`` and ``to_wall``, which map through the recent
(wall, market) pairs this process saw and, beyond them, the nominal pace (market seconds per wall second).
"""
from __future__ import annotations

import bisect
import logging
import threading
import time
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import func, select

from engine.clock import Clock
from engine.market.sim_epoch import DEFAULT_START
from engine.protocols import ClockContext
from engine.store.models import BarRow, Instrument, KeyValue
from engine.store.writes import upsert_rows

if TYPE_CHECKING:
    from engine.store.db import Store

log = logging.getLogger(__name__)

MARKET_CLOCK_KEY = "market.clock"  # {"ts": market iso, "wall": wall iso} written by the market job each tick
HISTORY = 900  # (wall, market) pairs kept in memory: 15 minutes of 1-second ticks


class MarketClock(Protocol):
    realtime: bool

    def now(self) -> datetime:
        """The market's time now (aware UTC)."""
        ...

    def at_wall(self, wall: datetime) -> datetime:
        """The market's time at a wall-clock moment (earlier rather than later when estimated)."""
        ...

    def to_wall(self, market: datetime) -> datetime:
        """The wall-clock moment the market clock first showed `market` (earlier rather than later when estimated)."""
        ...

    def span(self, wall: timedelta) -> timedelta:
        """How much market time passes in `wall` of wall-clock time (at least `wall`)."""
        ...


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


class WallMarketClock:
    """A market that runs in real time (Alpaca), and every context built without a market clock: the wall clock."""

    realtime = True

    def __init__(self, wall: Clock) -> None:
        self.wall = wall

    def now(self) -> datetime:
        return self.wall.now()

    def at_wall(self, wall: datetime) -> datetime:
        return wall

    def to_wall(self, market: datetime) -> datetime:
        return market

    def span(self, wall: timedelta) -> timedelta:
        return wall

    def advance(self, bars: Iterable[Any], store: Store | None = None) -> None:
        """Nothing to do: real-time bars never move this clock."""

    def advance_to(self, market: datetime, store: Store | None = None) -> None:
        """Nothing to do: real-time bars never move this clock."""


class BarMarketClock:
    """The simulated or replayed market's time: the end of the newest booked bar, shared through the store."""

    realtime = False

    def __init__(self, wall: Clock, store: Store | None, *, pace: float, bar_seconds: float = 60.0,
                 trust_s: float = 2.0, origin: datetime | None = None) -> None:
        """``pace``: nominal market seconds per wall second (simulated: minutes per tick x 60 / tick seconds);
        ``trust_s``: how long this process trusts its own last advance before it reads the store again
        (another engine may have taken over the market); ``origin``: the market's time before its first bar
        (the simulated market's start; None: the wall clock's)."""
        self.origin = _aware(origin) if origin is not None else None
        self.wall = wall
        self.store = store
        self.pace = max(float(pace), 1e-9)
        self.bar = timedelta(seconds=bar_seconds)
        self.trust_s = trust_s
        self._points: deque[tuple[datetime, datetime]] = deque(maxlen=HISTORY)  # (wall, market), both rising
        self._checked_at = -1e18  # time.monotonic() of this process's last advance or store read
        self._lock = threading.Lock()

    # -- reading -------------------------------------------------------------------------------
    def now(self) -> datetime:
        """Within ``trust_s`` of this process's last advance or read, its own value (a value up to trust_s old
        is covered by the sync's overlap, which is the same wall time in market terms: see ``span``)."""
        with self._lock:
            if self._points and time.monotonic() - self._checked_at < self.trust_s:
                return self._points[-1][1]
        stored = self._read_store()
        with self._lock:
            if stored is not None:
                self._remember(*stored)
                self._checked_at = time.monotonic()
            if self._points:
                return self._points[-1][1]
        # no bar stored yet: the market has not begun; its start when known, else the wall clock
        return self.origin if self.origin is not None else self.wall.now()

    def at_wall(self, wall: datetime) -> datetime:
        wall = _aware(wall)
        self.now()  # make sure the newest point is known
        with self._lock:
            points = list(self._points)
        if not points:
            return wall
        walls = [p[0] for p in points]
        i = bisect.bisect_right(walls, wall) - 1
        if i >= 0:
            return points[i][1]  # the clock steps: it showed this value from that tick until the next
        w0, m0 = points[0]
        return m0 - (w0 - wall) * self.pace

    def to_wall(self, market: datetime) -> datetime:
        market = _aware(market)
        self.now()
        with self._lock:
            points = list(self._points)
        if not points:
            return market
        markets = [p[1] for p in points]
        i = bisect.bisect_left(markets, market)
        if i < len(points):
            if i == 0 and market < markets[0]:
                w0, m0 = points[0]
                return w0 - (m0 - market) / self.pace
            return points[i][0]
        return self.wall.now()  # later than any tick this process knows of: it is happening now

    def span(self, wall: timedelta) -> timedelta:
        return wall * max(self.pace, 1.0)

    # -- moving (the market job) -----------------------------------------------------------
    def advance(self, bars: Iterable[Any], store: Store | None = None) -> None:
        """After a tick's bars are stored and matched: the market's time is the end of the newest bar."""
        newest = max((_aware(b.ts) for b in bars), default=None)
        if newest is not None:
            self.advance_to(newest + self.bar, store)

    def advance_to(self, market: datetime, store: Store | None = None) -> None:
        market = _aware(market)
        wall = self.wall.now()
        with self._lock:
            if self._points and market <= self._points[-1][1]:
                self._checked_at = time.monotonic()
                return
            self._remember(wall, market)
            self._checked_at = time.monotonic()
        self._write_store(store or self.store, wall, market)

    # -- internals -----------------------------------------------------------------------------
    def _remember(self, wall: datetime, market: datetime) -> None:
        if self._points:
            last_wall, last_market = self._points[-1]
            if market <= last_market:
                return
            wall = max(wall, last_wall)
        self._points.append((wall, market))

    def _write_store(self, store: Store | None, wall: datetime, market: datetime) -> None:
        if store is None:
            return
        try:
            with store.write() as s:
                upsert_rows(s, KeyValue.__table__, [{"key": MARKET_CLOCK_KEY, "updated_at": wall,
                                                     "value": {"ts": market.isoformat(), "wall": wall.isoformat()}}],
                            key=["key"])
        except Exception:  # noqa: BLE001 - the next tick writes it again; this process keeps its own value
            log.warning("could not store the market clock (%s)", market.isoformat(), exc_info=True)

    def _read_store(self) -> tuple[datetime, datetime] | None:
        """(wall, market) of the newest tick any engine stored; before the first, the newest stored bar's end."""
        if self.store is None:
            return None
        try:
            with self.store.read() as s:
                row = s.get(KeyValue, MARKET_CLOCK_KEY)
                index = s.scalar(select(Instrument.symbol).where(Instrument.kind == "index").limit(1))
                query = select(func.max(BarRow.ts))
                last = s.scalar(query.where(BarRow.symbol == index) if index else query)
        except Exception:  # noqa: BLE001 - the store is down: keep what this process knows
            log.warning("could not read the market clock from the store", exc_info=True)
            return None
        stored = None
        if row is not None and isinstance(row.value, dict) and row.value.get("ts"):
            wall = row.value.get("wall") or row.value["ts"]
            stored = _aware(datetime.fromisoformat(wall)), _aware(datetime.fromisoformat(row.value["ts"]))
        if last is None:
            return stored
        bar_end = _aware(last) + self.bar
        if stored is None or bar_end > stored[1]:  # bars stored by a tick that never finished (engine killed)
            return self.wall.now(), bar_end
        return stored


def market_clock_of(ctx: ClockContext) -> MarketClock:
    """The context's market clock; a context built without one (tests, tools) runs its market on its clock."""
    clock = getattr(ctx, "market_clock", None)
    return clock if clock is not None else WallMarketClock(ctx.clock)


def build_market_clock(settings: Any, store: Store | None, wall: Clock) -> MarketClock:
    """Alpaca runs in real time; the simulated and CSV markets carry their own bar times."""
    source = str(getattr(settings.market_source, "value", settings.market_source))
    if source == "alpaca":
        return WallMarketClock(wall)
    tick = max(float(settings.tick_seconds), 1e-3)
    # csv: one bar per poll; the files' bar interval is not known here, take a minute
    minutes = settings.sim_minutes_per_tick if source == "simulated" else 1
    origin = None
    if source == "simulated":
        origin = DEFAULT_START
    return BarMarketClock(wall, store, pace=minutes * 60.0 / tick, trust_s=max(2.0, 2.5 * tick), origin=origin)
