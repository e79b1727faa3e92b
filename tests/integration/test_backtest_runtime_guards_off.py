"""A backtest's output never depends on how fast the machine ran it: the workbook's latency and memory guards
(ValidationRules VAL011 reduce_computation, VAL010 trigger_gc: engine/runtime_guards.py) act on wall-clock time and
the process's memory, so they are off in a backtest, and a backtest leaves the live engine's guards as they were.

Before: a backtest ran the live engine's process-wide guards. With the workbook's latency limit below a cycle's
time (latency>0.001ms here; on a busy machine any limit), every cycle after the first skipped the ensemble, so the
same inputs traded on the rule-based regime instead of the ensemble's, and the live engine of the same process was
left reduced. The expectation is the run with both rules off: the two runs must be identical bar for bar.
The backtest's store is its own in-memory SQLite store, so the test needs no database URL."""
from __future__ import annotations

import pandas as pd
import pytest

from engine.backtest.inputs import BacktestSpec
from engine.backtest.runner import run_backtest
from engine.backtest.sample import simulated_frames
from engine.params import default_params
from engine.planner.api import load_preset
from engine.regime.testing import edited
from engine.runtime_guards import GUARDS, RuntimeGuards

BARS = 420  # daily bars: the ensemble's first model after 300 stored bars (test_backtest_runs_ensemble.py)


@pytest.mark.slow  # two backtests over 420 daily bars: 20-80 s
def test_the_latency_and_memory_guards_never_change_a_backtest() -> None:
    frames = {"IDX": simulated_frames(BARS)["IDX"]}
    off = edited(default_params(), cells={("ValidationRules", "main", 10, "enabled"): False,
                                          ("ValidationRules", "main", 9, "enabled"): False})
    tight = edited(default_params(), cells={("ValidationRules", "main", 10, "condition"): "latency>0.001ms",
                                            ("ValidationRules", "main", 9, "condition"): "memory>1MB"})
    vars(GUARDS).update(vars(RuntimeGuards()))  # on, as in a live engine process (tests/conftest.py turns them off)
    before = (GUARDS.reduced, GUARDS.gc_runs, GUARDS.limits)
    runs = [run_backtest(BacktestSpec(frames=frames, index_symbol="IDX", params=p, preset=load_preset("default")))
            for p in (off, tight)]
    assert (GUARDS.reduced, GUARDS.gc_runs, GUARDS.limits) == before  # the live engine's guards untouched
    names = [[n if isinstance(n, str) else "" for n in r.equity["regime_name"]] for r in runs]
    assert names[0].count("uncertain") > 0  # the ensemble acted in the run (CONSERVATIVE: some bars uncertain)
    assert names[1] == names[0]
    pd.testing.assert_frame_equal(runs[1].equity, runs[0].equity)
    pd.testing.assert_frame_equal(runs[1].orders, runs[0].orders)
