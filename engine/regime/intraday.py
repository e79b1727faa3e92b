"""Intraday time slots (IntradaySettings) in the market's timezone and session (MasterConfiguration).

Each bar gets the slot its local open time falls in: its sensitivity (divides the confirmation bars
a new regime needs and the hysteresis) and its restricted regimes (a restricted candidate is demoted:
Strong_* to the plain trend, Sideways to Neutral). Daily and longer bars have no slot (sensitivity 1).
On the weekly-expiry day (nearest chain expiry under one day) the special-day multiplier applies.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.params.grammar import restriction_matches
from engine.params.paramset import ParamSet
from engine.params.typed import Parameters
from engine.regime.paramtext import parse_time

MINUTES_PER_DAY = 1440


@dataclass(frozen=True, slots=True)
class Slot:
    name: str
    start: int  # minute of day
    end: int
    sensitivity: float
    restricted: tuple[str, ...]
    preferred: tuple[str, ...]


def _patterns(v: Any) -> tuple[str, ...]:
    items = [v] if isinstance(v, str) else list(v or ())
    out: list[str] = []
    for it in items:
        out.extend(s.strip() for s in str(it).split(",") if s.strip())
    return tuple(out)


class IntradayClock:
    def __init__(self, ps: ParamSet) -> None:
        m = Parameters(ps).master_configuration
        self.tz = str(m.market_timezone)
        o, c = parse_time(m.market_open_time), parse_time(m.market_close_time)
        self.session_minutes = float((c.hour * 60 + c.minute) - (o.hour * 60 + o.minute)) or 390.0
        slots = []
        for r in Parameters(ps).intraday_settings.rows:
            s, e = parse_time(r.start_time), parse_time(r.end_time)
            slots.append(Slot(str(r.time_slot), s.hour * 60 + s.minute, e.hour * 60 + e.minute,
                              float(r.sensitivity), _patterns(r.restricted_regimes), _patterns(r.preferred_regimes)))
        self.slots: tuple[Slot, ...] = tuple(slots)  # fixed: the minute -> slot table below is built from them
        self._by_minute = self._table(np.arange(MINUTES_PER_DAY, dtype=np.int64))
        self.expiry_mult = 1.0
        for d in Parameters(ps).intraday_settings.special_day_adjustments:
            if "weekly" in str(d.day_type).lower() and "expiry" in str(d.day_type).lower():
                self.expiry_mult = float(d.sensitivity_multiplier)

    def slot_index(self, minute: np.ndarray, intraday: bool) -> np.ndarray:
        """Index into self.slots per bar, -1 outside every slot (or for daily bars)."""
        if not intraday:
            return np.full(len(minute), -1, dtype=np.int64)
        if minute.dtype.kind in "iu" and len(minute) and minute.min() >= 0 and minute.max() < MINUTES_PER_DAY:
            return self._by_minute[minute]  # local clock minutes: a lookup (the same first-match rule)
        return self._table(minute)

    def _table(self, minute: np.ndarray) -> np.ndarray:
        """slot_index by comparisons (the first slot holding the minute wins)."""
        out = np.full(len(minute), -1, dtype=np.int64)
        for k, s in enumerate(self.slots):
            out[(minute >= s.start) & (minute < s.end) & (out < 0)] = k
        return out

    def slot(self, k: int) -> Slot | None:
        return self.slots[k] if k >= 0 else None


def restricted_match(patterns: tuple[str, ...], trend_class: str, regime_name: str, directional: bool) -> bool:
    """Slot restrictions name regime families: 'Strong_*', 'Sideways', 'Trending', 'NONE' (the validator
    checks each with the same restriction_matches)."""
    return any(restriction_matches(p, trend_class, regime_name, directional) for p in patterns)
