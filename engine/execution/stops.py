"""Protective exits as pure arithmetic: stop-loss, trailing stop (percent or ATR multiple), take-profit, time stop.

Kept free of the store so the live engine (engine/execution/protect.py), backtests and the benchmark
run the very same rule. One bar at a time, in this order:

1. the levels come from the state *before* the bar (the trailing high-water mark up to the previous bar);
2. a bar that opens through a level triggers at the open (a gap: the exit cannot be better than the open);
   otherwise a bar whose low (long) / high (short) reaches the level triggers at the level;
3. if the stop and the take-profit are both reached inside one bar, the stop wins (the bar's path is unknown,
   so assume the worse exit);
4. the time stop triggers at the bar's close once the position has been held `max_hold_seconds`;
5. only then does the bar's high (long) / low (short) move the trailing mark, for the next bar.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)


class StopError(ValueError):
    """A stop setting is out of range; the message names the field and the allowed range."""


@dataclass(frozen=True, slots=True)
class StopSpec:
    """Which exits a position has. Percentages are of the price (5 = 5%); None = that exit is off."""

    stop_loss_pct: Decimal | None = None
    trail_pct: Decimal | None = None
    trail_atr_mult: Decimal | None = None
    take_profit_pct: Decimal | None = None
    max_hold_seconds: float | None = None

    def __post_init__(self) -> None:
        for name in ("stop_loss_pct", "trail_pct"):
            value = getattr(self, name)
            if value is not None and not ZERO < value < HUNDRED:
                raise StopError(f"{name} must be above 0 and below 100 (percent of the price), got {value}")
        if self.take_profit_pct is not None and not ZERO < self.take_profit_pct <= Decimal(1000):
            raise StopError(f"take_profit_pct must be above 0 and at most 1000 percent, got {self.take_profit_pct}")
        if self.trail_atr_mult is not None and not ZERO < self.trail_atr_mult <= Decimal(50):
            raise StopError(f"trail_atr_mult must be above 0 and at most 50 ATRs, got {self.trail_atr_mult}")
        if self.max_hold_seconds is not None and not 0 < self.max_hold_seconds <= 366 * 86400:
            raise StopError(f"max_hold_seconds must be above 0 and at most a year, got {self.max_hold_seconds}")

    @property
    def empty(self) -> bool:
        return all(getattr(self, f) is None for f in self.__slots__)


@dataclass(frozen=True, slots=True)
class StopState:
    """What the rule remembers between bars for one position."""

    direction: int  # +1 long, -1 short
    entry: Decimal
    extreme: Decimal  # best price since attached: high-water (long) / low-water (short)
    opened_at: datetime
    atr: Decimal | None = None


@dataclass(frozen=True, slots=True)
class PriceBar:
    ts: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal


@dataclass(frozen=True, slots=True)
class Trigger:
    kind: str  # stop_loss | trailing | take_profit | time
    level: Decimal | None  # the level that was crossed (None for a time stop)
    price: Decimal  # the exit price to expect: the level, the open on a gap, the close for a time stop
    gap: bool = False


def protective_level(spec: StopSpec, state: StopState) -> tuple[Decimal, str] | None:
    """The tightest of the stop-loss and trailing levels, with its kind (None: no such exit)."""
    d = state.direction
    candidates: list[tuple[Decimal, str]] = []
    if spec.stop_loss_pct is not None:
        candidates.append((state.entry * (ONE - d * spec.stop_loss_pct / HUNDRED), "stop_loss"))
    if spec.trail_pct is not None:
        candidates.append((state.extreme * (ONE - d * spec.trail_pct / HUNDRED), "trailing"))
    if spec.trail_atr_mult is not None and state.atr is not None and state.atr > 0:
        candidates.append((state.extreme - d * spec.trail_atr_mult * state.atr, "trailing"))
    if not candidates:
        return None
    # long: the highest level is the tightest; short: the lowest. Ties keep the stop-loss's name.
    return max(candidates, key=lambda c: c[0] * d)


def take_profit_level(spec: StopSpec, state: StopState) -> Decimal | None:
    if spec.take_profit_pct is None:
        return None
    return state.entry * (ONE + state.direction * spec.take_profit_pct / HUNDRED)


def _reached(direction: int, level: Decimal, bar: PriceBar) -> tuple[bool, bool]:
    """(reached in the bar, already through it at the open) for a protective level."""
    if direction > 0:
        return bar.low <= level, bar.open <= level
    return bar.high >= level, bar.open >= level


def evaluate_bar(spec: StopSpec, state: StopState, bar: PriceBar) -> tuple[StopState, Trigger | None]:
    """Apply one bar: a trigger (and the state unchanged), or no trigger and the trailing mark moved."""
    d = state.direction
    stop = protective_level(spec, state)
    if stop is not None:
        level, kind = stop
        hit, gapped = _reached(d, level, bar)
        if hit:
            return state, Trigger(kind, level, bar.open if gapped else level, gap=gapped)
    tp = take_profit_level(spec, state)
    if tp is not None:
        hit, gapped = _reached(-d, tp, bar)  # a take-profit is crossed from the other side
        if hit:
            return state, Trigger("take_profit", tp, bar.open if gapped else tp, gap=gapped)
    if spec.max_hold_seconds is not None and (bar.ts - state.opened_at).total_seconds() >= spec.max_hold_seconds:
        return state, Trigger("time", None, bar.close)
    extreme = max(state.extreme, bar.high) if d > 0 else min(state.extreme, bar.low)
    return (replace(state, extreme=extreme) if extreme != state.extreme else state), None


def evaluate_path(spec: StopSpec, state: StopState, bars: list[PriceBar]) -> tuple[StopState, Trigger | None, int]:
    """Run bars in order until the first trigger: (state, trigger, index of the triggering bar or len(bars))."""
    for i, bar in enumerate(bars):
        state, trigger = evaluate_bar(spec, state, bar)
        if trigger is not None:
            return state, trigger, i
    return state, None, len(bars)
