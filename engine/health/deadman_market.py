"""Market data age for the dead-man's switch (engine/health/deadman.py): the source's cadence, and how old the
data is, by engine/market/data_age.py for a wall-clock feed (one definition of data age) and by the received-at
mark for the simulated and CSV sources; and which market incident is still open (its recovery not yet recorded).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.health.liveness import EngineLiveness
from engine.market import data_age
from engine.store.keyvalue import MARKET_DATA_KEY
from engine.store.models import BarRow, KeyValue

if TYPE_CHECKING:
    from engine.market.exchange import MarketCalendar

GUARD_PREFIX = "deadman:"  # every incident's guard row (engine_kv) starts with it
MARKET_PREFIX = f"{GUARD_PREFIX}market:"
RECOVERED_PREFIX = "deadman-ok:"  # a market incident's recovery guard row (not an incident: outside GUARD_PREFIX)
ALPACA_BAR_SECONDS = 60.0  # Alpaca's bars are 1-minute bars, returned once finished (alpaca_source.py)


def market_cadence_s(settings: Any, source: Any = None) -> float:
    """Longest normal wait (s) between two arrivals of new bars: one bar period plus one poll period.

    Alpaca: 60 s bars polled every max(tick, alpaca_poll_seconds); the simulated and CSV sources bring a
    bar every tick. No settings (a bare control context): 0, the threshold alone."""
    if settings is None:
        return 0.0
    tick = float(settings.tick_seconds)
    name = str(getattr(settings.market_source, "value", settings.market_source))
    if name == "alpaca":
        return float(getattr(source, "bar_seconds", ALPACA_BAR_SECONDS)) + max(tick, float(settings.alpaca_poll_seconds))
    return 2 * tick


def session_open_at(calendar: MarketCalendar | None, now: datetime) -> datetime | None:
    """The open (UTC) of today's regular session in the exchange's timezone, even a few seconds ahead (a
    broker clock that says "open" early): market data age counts from no earlier than it. None without an
    exchange (simulated, CSV: no sessions) or on a day without a session."""
    if calendar is None or calendar.exchange is None:
        return None
    at = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    hours = calendar.regular_hours(at.astimezone(ZoneInfo(calendar.timezone)).date())
    return hours[0] if hours is not None else None


def market_data_since(market_at: datetime | None, session_open: datetime | None) -> datetime | None:
    """What market data age is counted from: the last arrival, or the session's open when that is later."""
    if market_at is None or session_open is None:
        return market_at
    return max(market_at, session_open)


def recorded_cadence_s(session: Session) -> float:
    """The cadence the engine that writes the received-at mark recorded with it (it knows its source)."""
    mark = session.get(KeyValue, MARKET_DATA_KEY)
    try:
        return max(0.0, float((mark.value or {}).get("cadence_s") or 0.0)) if mark is not None else 0.0
    except (TypeError, ValueError):
        return 0.0


@dataclass(frozen=True)
class MarketAge:
    """How old the market data is (module doc): `age_s` counted from `since`; `data_at`, what the data dates from,
    names its incident; `due`: new data is due now (False while the exchange is closed); `bar_s`: a wall-clock
    feed's bar length (0: aged by arrival), by which its age rises between two arrivals."""
    age_s: float
    since: datetime
    data_at: datetime
    due: bool
    words: str
    bar_s: float = 0.0

    def fresh(self, limit_s: float) -> bool:
        """Fresh again after an incident: no older than the stale limit less one bar. A feed lagging just past the
        threshold ages from (lag) to (lag + bar) every minute: without the bar's margin it tripped and recovered
        every minute; with it, it stays one incident until it catches up."""
        return self.age_s <= limit_s - self.bar_s


def market_age(session: Session, live: EngineLiveness, now: datetime, calendar: MarketCalendar | None = None,
               session_open: datetime | None = None) -> MarketAge | None:
    """A wall-clock feed (the mark records "bar_s"): data_age's age of its newest bar's end, in `calendar`'s
    sessions (Alpaca's XNYS when the caller has no exchange). Otherwise the received-at mark's age, from no
    earlier than `session_open`. None: no data yet."""
    mark = session.get(KeyValue, MARKET_DATA_KEY)
    stamp = mark.value if mark is not None else None
    bar_s = data_age.recorded_bar_s(stamp)
    if bar_s is None:
        since = market_data_since(live.market_at, session_open)
        if since is None or live.market_at is None:
            return None
        note = f" (the session opened {since:%H:%M:%S} UTC)" if since != live.market_at else ""
        return MarketAge((now - since).total_seconds(), since, live.market_at, True,
                         f"no new bars since {live.market_at:%H:%M:%S} UTC{note}")
    newest = session.scalar(select(func.max(BarRow.ts)))
    if newest is None:
        return None
    if calendar is None or calendar.exchange is None:  # a web worker that knows only the store
        calendar = data_age.wall_clock_calendar()
    received = data_age.received_at(stamp)
    at = data_age.wall_clock_data_at(newest, bar_s, received)
    opened, until = data_age.due_window(calendar, now)
    age = data_age.data_age_s(calendar, now, at)
    words = f"the newest bar ends {at:%Y-%m-%d %H:%M:%S} UTC"
    if received is not None and received > at:
        words += f" (received {received:%H:%M:%S} UTC)"
    if opened is not None and at < opened:
        words += f", none since the session opened at {opened:%H:%M:%S} UTC"
    return MarketAge(age, until - timedelta(seconds=age), at, until >= data_age.aware(now), words, bar_s)


def recovery_key(incident: str) -> str:
    return f"{RECOVERED_PREFIX}{incident.removeprefix(GUARD_PREFIX)}"[:64]


def open_market_incident(session: Session) -> tuple[str, datetime] | None:
    """The newest market incident (its key, and when the data it went stale on dates from) until its recovery is
    recorded. Incidents recorded without "data_at" (before recoveries were reported) are never open."""
    row = session.scalars(select(KeyValue).where(KeyValue.key.startswith(MARKET_PREFIX))
                          .order_by(KeyValue.updated_at.desc()).limit(1)).first()
    at = row.value.get("data_at") if row is not None and isinstance(row.value, dict) else None
    if row is None or not isinstance(at, str) or session.get(KeyValue, recovery_key(row.key)) is not None:
        return None
    return row.key, data_age.aware(datetime.fromisoformat(at))
