"""The simulated market's hidden regime: two persistent Markov chains on a 1-minute grid.

Trend (up/down/sideways) and volatility (low/medium/high) switch independently. Each
regime lasts a geometric number of minutes whose mean depends on the state (about three to
eight hours, high volatility the shortest), so detection has real, persistent structure to find.
Together the chains change about 2.5 times per 375-minute session (2.35-2.6 measured on seeds
3, 7 and 11), the rate the reference workbook targets (MasterConfiguration target_daily_transitions):
a market that changed regime faster than the strategy's own target could not be read inside its
band by any detector (the chains' means were 2.5 times shorter until the transitions band was measured). The chains are
generated spell by spell from random blocks keyed by (seed, chain, block): the path is a
pure function of the seed, whatever range is asked for first.
"""
from __future__ import annotations

import math

import numpy as np

TRENDS: tuple[str, ...] = ("up", "down", "sideways")
VOLS: tuple[str, ...] = ("low", "medium", "high")

# Expected duration in minutes of each state, and where a chain goes when it leaves one.
TREND_MEAN_MINUTES = np.array([275.0, 275.0, 375.0])
TREND_NEXT = np.array([[0.0, 0.35, 0.65], [0.35, 0.0, 0.65], [0.5, 0.5, 0.0]])
VOL_MEAN_MINUTES = np.array([450.0, 375.0, 187.5])
VOL_NEXT = np.array([[0.0, 0.85, 0.15], [0.5, 0.0, 0.5], [0.25, 0.75, 0.0]])

_BLOCK = 512  # spells drawn per random block


class MarkovSpells:
    """One chain: spell start minutes and states, extended lazily and deterministically."""

    def __init__(self, seed: int, stream: int, mean_minutes: np.ndarray, next_probs: np.ndarray) -> None:
        self._seed = seed
        self._stream = stream
        self._mean = mean_minutes
        self._cum_next = np.cumsum(next_probs, axis=1)
        init_rng = np.random.default_rng([seed, stream, 0])
        self._starts: list[int] = [0]
        self._states: list[int] = [int(init_rng.integers(len(mean_minutes)))]
        self._next_start = -1  # start of the spell after the last one, once its length is drawn
        self._block = 0
        self._u_len = np.empty(0)
        self._u_next = np.empty(0)
        self._pos = 0
        self._starts_arr = np.array(self._starts)
        self._states_arr = np.array(self._states, dtype=np.int8)
        self._dirty = False

    def _draws(self) -> tuple[float, float]:
        if self._pos >= self._u_len.size:
            self._block += 1
            rng = np.random.default_rng([self._seed, self._stream, self._block])
            self._u_len = rng.random(_BLOCK)
            self._u_next = rng.random(_BLOCK)
            self._pos = 0
        u, v = float(self._u_len[self._pos]), float(self._u_next[self._pos])
        self._pos += 1
        return u, v

    def _extend_to(self, minute: int) -> None:
        """Draw spells until one starts after ``minute``."""
        while self._starts[-1] <= minute:
            state = self._states[-1]
            u, v = self._draws()
            p = 1.0 / self._mean[state]
            length = 1 + int(math.log1p(-u) / math.log1p(-p))
            nxt = int(np.searchsorted(self._cum_next[state], v, side="right"))
            self._starts.append(self._starts[-1] + length)
            self._states.append(min(nxt, len(self._mean) - 1))
            self._dirty = True

    def codes(self, i0: int, i1: int) -> np.ndarray:
        """State code of every minute in [i0, i1)."""
        self._extend_to(i1)
        if self._dirty:
            self._starts_arr = np.array(self._starts)
            self._states_arr = np.array(self._states, dtype=np.int8)
            self._dirty = False
        minutes = np.arange(i0, i1)
        return self._states_arr[np.searchsorted(self._starts_arr, minutes, side="right") - 1]


class RegimeProcess:
    """The pair of chains; codes index TRENDS and VOLS."""

    def __init__(self, seed: int) -> None:
        self.trend = MarkovSpells(seed, 11, TREND_MEAN_MINUTES, TREND_NEXT)
        self.vol = MarkovSpells(seed, 12, VOL_MEAN_MINUTES, VOL_NEXT)

    def codes(self, i0: int, i1: int) -> tuple[np.ndarray, np.ndarray]:
        return self.trend.codes(i0, i1), self.vol.codes(i0, i1)
