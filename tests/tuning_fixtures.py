"""Constructed history for the tuning tests: the simulated market's index (500 one-minute bars) with its
true regime path, and a deliberately poor current version (emergency transitions at 0.8, at most 3
transitions a day) that a tuning run can improve within the workbook's expansion limit."""
from __future__ import annotations

from functools import lru_cache

import pandas as pd

from engine.market.simulated import SimulatedMarket
from engine.params.paramset import ParamSet, default_params
from engine.tuning.edit import edited

EMERGENCY = ("TransitionManagement", "main", "emergency_transition_threshold")
PER_DAY = ("StabilityConfiguration", "main", "max_transitions_per_day")
SPACE = (EMERGENCY, PER_DAY, ("StabilityConfiguration", "main", "confirmation_window"),
         ("NoiseFiltering", "main", "spike_threshold"))  # a small search space: a few trials suffice


@lru_cache(maxsize=1)
def history(n: int = 500) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    m = SimulatedMarket(seed=7)
    bars, truth = m.history(n)
    idx = bars[bars["symbol"] == m.index_symbol()].rename(columns={"ts": "timestamp"}).reset_index(drop=True)
    return idx, truth, m.index_symbol()


def poor_version(**switches: object) -> ParamSet:
    changes: dict[tuple[str, str, str], object] = {EMERGENCY: 0.8, PER_DAY: 3}
    changes.update({("AdaptiveTuning", "main", k): v for k, v in switches.items()})
    return edited(default_params(), changes)
