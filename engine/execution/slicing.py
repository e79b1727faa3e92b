"""Child-order schedules for a sliced parent order, as pure functions (live engine, backtests, tests).

A schedule is a list of (time, cumulative target): by that time, that many shares should be done.
The runner (engine/execution/parents.py) sends whatever the target is ahead of what is filled or
working, so a child that filled only partly is caught up by the next one.

- TWAP: equal slices over the duration.
- VWAP: slices weighted by the symbol's usual volume at that time of day (from stored bars). With an exchange
  calendar (XNYS) "time of day" is minutes since that session's open in exchange time, from regular-session
  bars only: a UTC key moved the profile an hour at each DST change and mixed in thin extended-hours volume.
  Without an exchange (the simulated 24/7 market) it is the UTC minute of the day.
- POV (participation): no fixed schedule; the target follows `participation` x the market volume
  traded since the start (pov_target).
Targets are whole shares, rounded on the cumulative curve so the slices always add up to the total.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, ROUND_UP, Decimal
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from engine.market.exchange import MarketCalendar

MODES = ("twap", "vwap", "pov")


class SliceError(ValueError):
    """A slicing setting is out of range; the message names it."""


@dataclass(frozen=True, slots=True)
class SliceSpec:
    mode: str  # twap | vwap | pov
    duration_s: float  # the parent's working time; after it the remainder is swept at market
    slices: int = 10  # twap / vwap child count
    participation: Decimal | None = None  # pov: the share of market volume to take (0.1 = 10%)
    limit_offset_bps: Decimal | None = None  # children are limits this far through the last price; None = market

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise SliceError(f"execution mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if not 0 < self.duration_s <= 7 * 86400:
            raise SliceError(f"duration_s must be above 0 and at most a week, got {self.duration_s}")
        if not 1 <= self.slices <= 1000:
            raise SliceError(f"slices must be from 1 to 1000, got {self.slices}")
        if self.mode == "pov" and (self.participation is None or not Decimal(0) < self.participation <= Decimal(1)):
            raise SliceError(f"participation must be above 0 and at most 1 for pov, got {self.participation}")
        if self.limit_offset_bps is not None and not Decimal(0) <= self.limit_offset_bps <= Decimal(500):
            raise SliceError(f"limit_offset_bps must be from 0 to 500, got {self.limit_offset_bps}")


def slice_times(start: datetime, spec: SliceSpec) -> list[datetime]:
    step = spec.duration_s / spec.slices
    return [start + timedelta(seconds=step * k) for k in range(spec.slices)]


def _minute_of_day(ts: datetime) -> int:
    return ts.hour * 60 + ts.minute


class _SessionMinutes:
    """Minutes since the regular open of the session a time lies in (None outside every session); each day's
    hours are read once (a profile reads thousands of bars)."""

    def __init__(self, calendar: MarketCalendar) -> None:
        self.calendar, self.zone = calendar, ZoneInfo(calendar.timezone)
        self._hours: dict[date, tuple[datetime, datetime] | None] = {}

    def __call__(self, ts: datetime) -> int | None:
        at = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts  # SQLite hands back naive UTC times
        day = at.astimezone(self.zone).date()
        if day not in self._hours:
            self._hours[day] = self.calendar.regular_hours(day)
        hours = self._hours[day]
        if hours is None or not hours[0] <= at < hours[1]:
            return None
        return int((at - hours[0]).total_seconds() // 60)


def _key(calendar: MarketCalendar | None) -> Callable[[datetime], int | None]:
    if calendar is None or calendar.exchange is None:
        return _minute_of_day
    return _SessionMinutes(calendar)


def volume_profile(history: Sequence[tuple[datetime, float]], calendar: MarketCalendar | None = None) -> dict[int, float]:
    """Average volume per minute of the day over the stored bars: minutes since the session's open, regular-session
    bars only, with an exchange calendar; the UTC minute of the day without one."""
    key = _key(calendar)
    total: dict[int, float] = defaultdict(float)
    count: dict[int, int] = defaultdict(int)
    for ts, volume in history:
        m = key(ts)
        if m is None:  # pre-market / after-hours: not the session's volume
            continue
        total[m] += max(float(volume), 0.0)
        count[m] += 1
    return {m: total[m] / count[m] for m in total}


def vwap_weights(history: Sequence[tuple[datetime, float]], start: datetime, spec: SliceSpec,
                 calendar: MarketCalendar | None = None) -> list[float]:
    """Each slice's share of the volume usually traded in its window; equal shares without history.

    Minutes of a window the history never saw (or outside the session) count at the profile's mean, so one gap
    does not empty a slice."""
    profile = volume_profile(history, calendar)
    if not profile or sum(profile.values()) <= 0:
        return [1.0 / spec.slices] * spec.slices
    key = _key(calendar)
    mean = sum(profile.values()) / len(profile)
    step = spec.duration_s / spec.slices
    weights = []
    for t in slice_times(start, spec):
        minutes = max(1, int(round(step / 60)))
        keys = (key(t + timedelta(minutes=i)) for i in range(minutes))
        weights.append(sum(mean if k is None else profile.get(k, mean) for k in keys))
    total = sum(weights)
    return [w / total for w in weights] if total > 0 else [1.0 / spec.slices] * spec.slices


def cumulative_targets(total: Decimal, weights: Sequence[float]) -> list[Decimal]:
    """Whole-share cumulative targets for the weights; the last is always the total."""
    out, running = [], 0.0
    for w in weights[:-1]:
        running += float(w)
        out.append(min(total, (total * Decimal(repr(running))).quantize(Decimal(1), rounding=ROUND_HALF_UP)))
    out.append(total)
    return out


def build_schedule(total: Decimal, start: datetime, spec: SliceSpec, history: Sequence[tuple[datetime, float]] = (),
                   calendar: MarketCalendar | None = None) -> list[tuple[datetime, Decimal]]:
    """(time, cumulative target) per slice for twap/vwap; empty for pov (its target follows the market).
    `calendar`: the source's exchange calendar, for the VWAP profile's session minutes (None: UTC minutes)."""
    if total <= 0 or total != total.to_integral_value():
        raise SliceError(f"a sliced order needs a whole, positive number of shares, got {total}")
    if spec.mode == "pov":
        return []
    weights = [1.0 / spec.slices] * spec.slices if spec.mode == "twap" else vwap_weights(history, start, spec, calendar)
    return list(zip(slice_times(start, spec), cumulative_targets(total, weights), strict=True))


def due_target(schedule: Sequence[tuple[datetime, Decimal]], now: datetime) -> tuple[int, Decimal]:
    """(index of the current slice, its cumulative target); (-1, 0) before the first slice."""
    index, target = -1, Decimal(0)
    for i, (at, cum) in enumerate(schedule):
        if at <= now:
            index, target = i, cum
    return index, target


def pov_target(total: Decimal, participation: Decimal, market_volume: float) -> Decimal:
    """Shares a participation-rate parent should have done after `market_volume` traded since its start."""
    done = (participation * Decimal(repr(float(market_volume)))).quantize(Decimal(1), rounding=ROUND_DOWN)
    return min(total, max(done, Decimal(0)))


def child_limit(last: Decimal, side: str, offset_bps: Decimal | None) -> Decimal | None:
    """A child's limit: the last price moved `offset_bps` in the trader's paying direction (None: market)."""
    if offset_bps is None:
        return None
    factor = offset_bps / Decimal(10_000)
    price = last * (1 + factor) if side == "buy" else last * (1 - factor)
    return price.quantize(Decimal("0.01"), rounding=ROUND_DOWN if side == "buy" else ROUND_UP)  # never more aggressive
