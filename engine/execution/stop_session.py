"""The trading session of the engine-side protective exits (engine/execution/protect.py).

With an exchange calendar (the Alpaca source: XNYS) only regular-session bars move or trigger a stop: Alpaca's
feed also brings pre-market and after-hours minutes, whose thin prints fired exits the broker then refused
(market orders are sent only in the regular session). An exit the session refuses waits for the open without
counting as an attempt, and is checked again on the next regular-session bar against the price then. A source
without an exchange (the simulated market trades around the clock) keeps every bar.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from engine.context import EngineContext
from engine.execution.stops import PriceBar
from engine.market.exchange import MarketCalendar, calendar_for_settings
from engine.market.types import Bar
from engine.trading.gateway import GatewayResult
from engine.trading.marks import to_decimal

WAITING = "waiting"  # the StopEvent / audit word (stop.waiting): the stop stays active until the open
# What a session refusal says (Alpaca's session check before its POST, the paper broker's same rule); a reason
# Alpaca itself answered ("rejected by Alpaca (...)") is a real rejection and counts as an attempt.
SESSION_WORDS = ("market is closed", "outside alpaca's extended hours", "outside extended hours",
                 "outside the regular session")
REAL_REJECTION = "rejected by alpaca"


@dataclass(frozen=True, slots=True)
class StopEvent:
    """What one tick did to one stop (check_stops' answer, logged by the execution step)."""

    symbol: str
    stop_id: int
    what: str  # triggered | blocked | failed | done | waiting (the session refused it: active until the open)
    detail: str


def source_calendar(ctx: EngineContext) -> MarketCalendar | None:
    """The source's exchange calendar (Alpaca: XNYS), as regime_stage reads it. A web process has no source (a stop
    attached from the Trading page): the configured source's calendar (calendar_for_settings)."""
    if ctx.source is not None:
        return getattr(ctx.source, "calendar", None)
    return calendar_for_settings(getattr(ctx, "settings", None), None)


@dataclass(frozen=True, slots=True)
class StopSession:
    """Which bars and times count for the stops: all of them without an exchange, else the regular session."""

    calendar: MarketCalendar | None

    @property
    def always_open(self) -> bool:
        return self.calendar is None or self.calendar.exchange is None

    def is_open(self, at: datetime) -> bool:
        return self.always_open or bool(self.calendar and self.calendar.is_regular_open(at))

    def bars(self, bars: Sequence[Bar]) -> list[Bar]:
        """The regular-session bars of a tick (each distinct bar time is looked up once)."""
        if self.always_open:
            return list(bars)
        open_at = {ts: self.is_open(ts) for ts in {b.ts for b in bars}}
        return [b for b in bars if open_at[b.ts]]

    def price_bars(self, bars: Sequence[Bar]) -> dict[str, list[PriceBar]]:
        """The session's bars of a tick per symbol, oldest first, as the stop rule reads them."""
        out: dict[str, list[PriceBar]] = defaultdict(list)
        for b in sorted(self.bars(bars), key=lambda b: b.ts):
            out[b.symbol].append(PriceBar(b.ts, to_decimal(b.open), to_decimal(b.high), to_decimal(b.low),
                                          to_decimal(b.close)))
        return out

    def closed_note(self, at: datetime) -> str:
        where = f" on {self.calendar.label}" if self.calendar is not None and self.calendar.exchange else ""
        return (f"waiting for the open: the session{where} is closed at {at:%Y-%m-%d %H:%M} UTC; the exit is "
                "checked again on the next regular-session bar")


def session_refusal(result: GatewayResult) -> bool:
    """Whether a refused exit was refused because the session is closed (nothing reached the broker)."""
    if result.accepted or result.check == "trading_state":
        return False
    reason = (result.reason or "").lower()
    return REAL_REJECTION not in reason and any(word in reason for word in SESSION_WORDS)


def exit_key(stop_id: int, attempt: int, status: str, last_exit: str | None) -> str:
    """The idempotency key of an exit. A stop waiting for the open (active with the refused exit's client order id)
    chains that id into the key: its next exit is a new order, while a retried tick still repeats the same key."""
    key = f"stop-{stop_id}-{attempt}"
    return f"{key}-after-{last_exit}" if status == "active" and last_exit else key
