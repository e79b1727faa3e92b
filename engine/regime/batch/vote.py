"""MultiTimeframeModule.prepare's per-timeframe accumulation, compiled for long row sets (numba, cached).

Why: as plain Python the loop costs microseconds a row, fine for the live path's new bar but not for a
replay chunk's thousands of rows. The function compiled is the one the live path runs
(engine/regime/modules/mtf_sums.py), so every sum is the same value on both paths.
"""
from __future__ import annotations

from numba import njit

from engine.regime.modules import mtf_sums

add_timeframe = njit(cache=True)(mtf_sums.add_timeframe)
