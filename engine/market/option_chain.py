"""Simulated option chains: expiry calendar, implied-vol surface and the chain snapshot itself.

The IV surface follows the hidden regime: its level is the underlying's recent nominal vol
plus a small premium, the term structure is in contango when vol is below its long-run level
and backwardated above it, and the skew is negative (OTM puts richer), steeper in downtrends
and high vol. Open interest and volume come from engine.market.oi_book.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from engine.market.options import bs_price_greeks
from engine.market.types import OptionChain

if TYPE_CHECKING:
    from engine.market.oi_book import OpenInterestBook

WEEK = 7 * 1440
MIN_DTE = 3 * 1440 + 720  # the front expiry rolls when 3.5 days are left
RATE = 0.04
DIV = 0.0
MINUTES_PER_CAL_YEAR = 365 * 1440
HALF = 20  # strikes either side of the money: 41 per expiry


def nice_step(spot: float, frac: float = 0.005) -> float:
    """Strike spacing near frac of spot, rounded to an exchange-like number (…, 0.5, 1, 2.5, 5, …)."""
    target = spot * frac
    steps = [m * 10.0**e for e in range(-2, 5) for m in (1.0, 2.5, 5.0)]
    return min(steps, key=lambda s: abs(math.log(s / target)))


class ExpiryCalendar:
    """Weekly expiries every Friday 20:00 UTC, counted in minutes since the simulation start."""

    def __init__(self, start: datetime, target_days: tuple[int, ...] = (7, 14, 30)) -> None:
        days_ahead = (4 - start.weekday()) % 7
        first = start.replace(hour=20, minute=0, second=0, microsecond=0) + timedelta(days=days_ahead)
        if first <= start:
            first += timedelta(days=7)
        self.m0 = int((first - start).total_seconds() // 60)
        self.offsets = sorted({max(0, round((d - 7) / 7)) for d in target_days})
        self.span = self.offsets[-1]

    def expiry_minute(self, k: int) -> int:
        return self.m0 + k * WEEK

    def front(self, minute: int) -> int:
        return -((self.m0 - minute - MIN_DTE) // WEEK)  # ceil((minute + MIN_DTE - m0) / WEEK)

    def displayed(self, minute: int) -> list[int]:
        f = self.front(minute)
        return [f + o for o in self.offsets]

    def alive(self, minute: int) -> range:
        f = self.front(minute)
        return range(f, f + self.span + 1)

    def listing(self, k: int) -> int:
        """First minute at which expiry k is alive (it becomes the furthest listed one)."""
        return self.expiry_minute(k - self.span - 1) - MIN_DTE + 1


def atm_vol(t_years: np.ndarray, level: float, long_run: float) -> np.ndarray:
    """ATM IV term structure: from the current level at the short end toward the long run."""
    decay = np.exp(-t_years / (20.0 / 365.0))
    return 1.05 * (long_run + (level - long_run) * decay + 0.08 * long_run * (1.0 - decay))


def inv_sd(minutes: float, level: float, long_run: float) -> float:
    """1 / (ATM vol x sqrt(T)) for one expiry: scalar twin of atm_vol for the OI step loop."""
    t = minutes / MINUTES_PER_CAL_YEAR
    decay = math.exp(-t / (20.0 / 365.0))
    atm = 1.05 * (long_run + (level - long_run) * decay + 0.08 * long_run * (1.0 - decay))
    return 1.0 / (atm * math.sqrt(t))


def skew_slope(level: float, long_run: float, mom: float) -> float:
    """Negative skew, steeper when the price is falling and when vol is above its long run."""
    return -(0.07 + 0.03 * min(max(-mom, 0.0), 2.0) + 0.04 * min(max(level / long_run - 1.0, 0.0), 2.0))


def smile(strike, fwd, t_years, atm, slope) -> np.ndarray:
    y = np.log(strike / fwd) / (atm * np.sqrt(t_years))
    return atm * np.minimum(np.maximum(1.0 + slope * y + 0.02 * y * y, 0.5), 3.0)


@dataclass(frozen=True, slots=True)
class ChainSpec:
    underlying: str
    strike_step: float
    oi_scale: float  # equilibrium OI of an at-the-money contract


def build_chain(
    spec: ChainSpec,
    cal: ExpiryCalendar,
    book: OpenInterestBook,
    u: int,
    minute: int,
    ts: datetime,
    spot: float,
    level: float,
    long_run: float,
    mom: float,
) -> OptionChain:
    """The chain as of the close of bar ``minute``: 41 strikes around spot per displayed expiry."""
    ja = round(spot / spec.strike_step)
    j1 = np.arange(ja - HALF, ja + HALF + 1)
    j1 = j1[j1 > 0]
    exps = cal.displayed(minute)
    n = j1.size
    mins = np.array([cal.expiry_minute(k) - minute - 1 for k in exps], dtype=float)
    ne = len(exps)
    t = np.repeat(np.maximum(mins, 1.0) / MINUTES_PER_CAL_YEAR, 2 * n)
    strike = np.concatenate([j1 * spec.strike_step] * (2 * ne))
    call = np.concatenate([np.ones(n, dtype=bool), np.zeros(n, dtype=bool)] * ne)
    atm = atm_vol(t, level, long_run)
    fwd = spot * np.exp((RATE - DIV) * t)
    iv = smile(strike, fwd, t, atm, skew_slope(level, long_run, mom))
    price, g = bs_price_greeks(spot, strike, t, iv, call, RATE, DIV)
    oi, vol = book.lookup(u, exps, j1)
    return OptionChain(
        underlying=spec.underlying,
        ts=ts.astimezone(UTC),
        spot=spot,
        expiry_days=t * 365.0,
        strike=strike,
        kind=np.where(call, "C", "P"),
        iv=iv,
        price=price,
        delta=g.delta,
        gamma=g.gamma,
        vega=g.vega,
        theta=g.theta,
        open_interest=oi,
        volume=vol,
    )
