"""Stress scenarios: a shock (a one-day return) per name, applied to the book's signed values.

Library (built from the book's own history):
  historical   the worst days of the index (or of the book when there is no index) replayed: each
               name moves as it did that day
  index -5% / -10%, vol x2   each name moves beta x the index move, plus two daily residual sigmas
               against its position (doubled volatility of what the index does not explain)
  correlation-1 day          every name moves together by 2.33 daily sigmas (99%), in the direction
               that hurts the book more
  gap at the open            every name opens 3 daily sigmas against its position (no stop can act)
User scenarios: shocks per symbol, per group, and for the index (applied through beta); a symbol's
own shock wins over its group's, a group's over the index's. A user scenario may not take a library
scenario's name (two rows of one name made the worst-scenario card ambiguous).
"""
from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

INDEX_KEY = "INDEX"
CORR1_Z = 2.326  # 99% one-sided normal quantile
GAP_SIGMAS = 3.0
MAX_SHOCK = 10.0  # +1000%: anything larger is a typing error
INDEX_MOVES = (-0.05, -0.10)
HYPOTHETICAL_NAMES = tuple(f"Index {move:+.0%}, vol x2" for move in INDEX_MOVES) + ("Correlation-1 day",
                                                                                    "Gap at the open")
HISTORICAL_PREFIX = "Worst day "  # + the date and the driver's move
MAX_LISTED = 40  # keys named in an "unknown key" message before "... and N more"


def reserved_name(name: str) -> bool:
    """Whether `name` is (or could be) a library scenario's name, ignoring case and outer spaces."""
    folded = name.strip().casefold()
    return (folded in {n.casefold() for n in HYPOTHETICAL_NAMES}
            or folded.startswith(HISTORICAL_PREFIX.casefold()))


def _listing(keys: Collection[str]) -> str:
    ordered = sorted(keys)
    more = len(ordered) - MAX_LISTED
    return ", ".join(ordered[:MAX_LISTED]) + (f" ... and {more} more" if more > 0 else "") if ordered else "none"


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: str  # historical | hypothetical | user
    shocks: np.ndarray  # one return per book name

    def pnl(self, values: np.ndarray) -> np.ndarray:
        """P&L per position (signed value x shock)."""
        return np.asarray(values, dtype=float) * self.shocks


def pnl_matrix(scenarios: Sequence[Scenario], values: np.ndarray) -> np.ndarray:
    """P&L per scenario (rows) and position (columns): every scenario's shocks times the values at once."""
    v = np.asarray(values, dtype=float)
    if not scenarios:
        return np.zeros((0, v.size))
    return np.array([sc.shocks for sc in scenarios], dtype=float) * v


@dataclass(frozen=True)
class UserScenario:
    """A saved scenario: shocks (fractions, -0.05 = -5%) keyed by symbol, group name or INDEX."""

    name: str
    shocks: Mapping[str, float] = field(default_factory=dict)

    def validate(self, symbols: Collection[str] | None = None, groups: Collection[str] | None = None) -> None:
        """Refuse what would mislead the stress table: a library scenario's name, a shock out of range,
        and (when the caller knows the universe: `symbols` and `groups`) a key that `user` would never
        match, which silently shocked nothing."""
        if not self.name.strip():
            raise ValueError("the scenario needs a name")
        if reserved_name(self.name):
            reserved = ", ".join(repr(n) for n in HYPOTHETICAL_NAMES)
            raise ValueError(f"{self.name.strip()!r} is a built-in scenario's name; choose another (reserved: "
                             f"{reserved} and names starting {HISTORICAL_PREFIX!r})")
        if not self.shocks:
            raise ValueError(f"scenario {self.name!r} has no shocks: give at least one symbol, group or INDEX")
        for key, value in self.shocks.items():
            if not key.strip():
                raise ValueError(f"scenario {self.name!r}: a shock has no symbol or group")
            if not np.isfinite(value) or not -1.0 <= value <= MAX_SHOCK:
                raise ValueError(f"scenario {self.name!r}: shock {value:+.2%} for {key} is outside -100%..+1000%")
        if symbols is None and groups is None:
            return
        known_symbols, known_groups = set(symbols or ()), set(groups or ())
        unknown = [k for k in self.shocks if k != INDEX_KEY and k not in known_symbols and k not in known_groups]
        if unknown:
            raise ValueError(f"scenario {self.name!r}: unknown symbol or group {', '.join(map(repr, unknown))} "
                             f"(keys are case-sensitive); accepted: {INDEX_KEY} (through beta); groups: "
                             f"{_listing(known_groups)}; symbols: {_listing(known_symbols)}")


def hypothetical(values: np.ndarray, betas: np.ndarray, sigma: np.ndarray, resid_sigma: np.ndarray) -> list[Scenario]:
    """The four hypothetical scenarios (daily sigmas; beta to the index)."""
    side = np.sign(np.asarray(values, dtype=float))
    out = [Scenario(name, "hypothetical", betas * move - side * 2.0 * resid_sigma)
           for name, move in zip(HYPOTHETICAL_NAMES[:2], INDEX_MOVES, strict=True)]
    down, up = -CORR1_Z * sigma, CORR1_Z * sigma
    worse = down if float(values @ down) <= float(values @ up) else up
    out.append(Scenario(HYPOTHETICAL_NAMES[2], "hypothetical", worse))
    out.append(Scenario(HYPOTHETICAL_NAMES[3], "hypothetical", -side * GAP_SIGMAS * sigma))
    return out


def historical(values: np.ndarray, dates: Sequence[date] | pd.DatetimeIndex, moves: np.ndarray, index_moves: np.ndarray | None,
               worst: int) -> list[Scenario]:
    """The `worst` days of the index (else of this book) replayed: `moves` (days x names) per date."""
    if len(dates) == 0 or worst <= 0:
        return []
    if index_moves is not None:
        driver, label = np.asarray(index_moves, dtype=float), "index"
    else:
        driver, label = moves @ np.asarray(values, dtype=float), "book"
    out = []
    rows = np.argsort(driver, kind="stable")[:worst]
    for i, day in zip(rows, _dates_at(dates, rows), strict=True):
        move = float(driver[i])
        text = f"{move:+.2%}" if label == "index" else f"{move:+,.0f}"
        out.append(Scenario(f"{HISTORICAL_PREFIX}{day} ({label} {text})", "historical", moves[i]))
    return out


def _dates_at(dates: Sequence[date] | pd.DatetimeIndex, rows: np.ndarray) -> list[date]:
    """The calendar dates at `rows` (numpy's day arithmetic for a naive or UTC index: no Timestamps)."""
    if isinstance(dates, pd.DatetimeIndex) and (dates.tz is None or str(dates.tz) == "UTC"):
        days: list[date] = dates.asi8[rows].astype(f"datetime64[{dates.unit}]").astype("datetime64[D]").tolist()
        return days
    return [pd.Timestamp(dates[i]).date() for i in rows]


def user(spec: UserScenario, symbols: Sequence[str], groups: Mapping[str, str], betas: np.ndarray) -> Scenario:
    """Shocks for the book's names from a user scenario (symbol > group > INDEX x beta > 0)."""
    given = spec.shocks
    own = [given[s] if s in given else given[g] if (g := groups.get(s)) is not None and g in given else None
           for s in symbols]
    shocks = np.array([0.0 if x is None else x for x in own], dtype=float)
    index_move = given.get(INDEX_KEY)
    if index_move is not None:
        by_index = np.array([x is None for x in own], dtype=bool)
        shocks[by_index] = np.asarray(betas, dtype=float)[by_index] * index_move
    return Scenario(spec.name, "user", shocks)
