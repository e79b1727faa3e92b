"""Deposits and withdrawals taken out of an account's equity curve, so returns and P&L measure trading only.

Why: equity 100,000 -> 90,000 by a withdrawal is no loss. Between two snapshots with a net flow F_t the
time-weighted return is r_t = (E_t - F_t) / E_{t-1} - 1 (the flow counted as arriving just before E_t). The
curve `time_weighted` gives has exactly those returns: each value is scaled by E_k / (E_k - F_k) for every flow
k after it, so the newest value is the equity itself and any two values' ratio is the time-weighted growth between
them (downsampled curves stay exact). `net_equity` adds back the flows after each value instead: differences
of it are dollar P&L (E_t - E_{t-1} - F_t), the daily P&L bars. A flow k sits at the first snapshot whose equity
includes it (its snapshot id); a flow into an account worth nothing before it (E_k - F_k <= 0, the first funding)
has no return to leave out and is skipped by the time-weighting.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class FlowSteps:
    """Flows by snapshot id (ascending, one entry per id); factors[i] / nets[i] apply to a snapshot with i flows at
    or before it (len(ids) + 1 entries: the last, for snapshots after every flow, is 1.0 / 0.0)."""

    ids: list[int]
    factors: list[float]
    nets: list[float]

    def _positions(self, ids: pd.Series | np.ndarray) -> np.ndarray:
        return np.searchsorted(np.asarray(self.ids, dtype="int64"), np.asarray(ids, dtype="int64"), side="right")

    def time_weighted(self, ids: pd.Series, equity: pd.Series) -> pd.Series:
        """`equity` (at snapshots `ids`) scaled so its returns are time-weighted (module docstring)."""
        values = pd.to_numeric(equity).astype("float64")
        if not self.ids or len(values) == 0:
            return values
        return values * np.asarray(self.factors)[self._positions(ids)]

    def net_equity(self, ids: pd.Series, equity: pd.Series) -> pd.Series:
        """`equity` plus the flows after each snapshot: its differences are P&L without the flows."""
        values = pd.to_numeric(equity).astype("float64")
        if not self.ids or len(values) == 0:
            return values
        return values + np.asarray(self.nets)[self._positions(ids)]


def flow_steps(flows: Iterable[tuple[int, float, float]]) -> FlowSteps:
    """FlowSteps of (snapshot id, amount, equity at that snapshot) rows; several flows at one snapshot add up."""
    by_id: dict[int, list[float]] = {}
    for sid, amount, after in flows:
        entry = by_id.setdefault(int(sid), [0.0, float(after)])
        entry[0] += float(amount)
    ids = sorted(by_id)
    factors, nets = [1.0], [0.0]
    for sid in reversed(ids):
        amount, after = by_id[sid]
        before = after - amount  # the equity just before the flow arrived
        factors.append(factors[-1] * (after / before if before > 0 and after > 0 else 1.0))
        nets.append(nets[-1] + amount)
    return FlowSteps(ids=ids, factors=factors[::-1], nets=nets[::-1])


def twr_returns(equity: pd.Series, flows: pd.Series) -> pd.Series:
    """Per-period time-weighted returns r_t = (E_t - F_t) / E_{t-1} - 1 of an equity curve and the net flow
    into each period (aligned to equity's index; missing = 0)."""
    f = flows.reindex(equity.index).fillna(0.0).astype("float64")
    e = equity.astype("float64")
    return ((e - f) / e.shift(1) - 1.0).iloc[1:]
