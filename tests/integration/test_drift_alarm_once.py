"""The drift job raises one alarm per market change on a real store, although ADWIN's change point moves as
the window slides over the same change; after the change leaves the window (a check finds no drift) a later
change alarms again. The engine stores one snapshot per minute and the job runs about as often."""
from __future__ import annotations

from datetime import timedelta

import numpy as np

from engine.audit import recent
from engine.clock import ManualClock
from engine.params.paramset import default_params
from engine.params.versions import apply_version
from engine.runtime import build_context
from engine.settings import load_settings
from engine.store.models import RegimeSnapshot
from engine.tuning.drift_job import check_drift
from engine.tuning.edit import edited

WINDOW = 300  # AdaptiveLearning memory_window: snapshots the detector looks back over
FIRST, SECOND, END = 200, 700, 900  # confidence 0.8 -> 0.5 at FIRST, back to 0.8 at SECOND
STEP = 3  # a check every STEP new snapshots (bounded run: ~230 checks)


def _alarms(ctx) -> int:  # type: ignore[no-untyped-def]
    with ctx.store.read() as s:
        return len(recent(s, action_prefix="tuning.drift", limit=1000))


def test_one_alarm_per_change_and_rearmed_after_a_quiet_check(any_db_url: str) -> None:
    ctx = build_context(load_settings(database_url=any_db_url), with_source=True, migrate=True, clock=ManualClock())
    apply_version(ctx.store, edited(default_params(), {("AdaptiveLearning", "main", "memory_window"): WINDOW,
                                                       ("AdaptiveLearning", "main", "retraining_trigger"):
                                                       "DRIFT_BASED"}), "test", "cli", clock=ctx.clock)
    rng = np.random.default_rng(5)
    series = np.clip(np.r_[rng.normal(0.8, 0.03, FIRST), rng.normal(0.5, 0.03, SECOND - FIRST),
                           rng.normal(0.8, 0.03, END - SECOND)], 0, 1)
    sym = ctx.source.index_symbol()
    t0 = ctx.clock.now()
    counts: dict[int, int] = {}
    quiet = False  # did some check between the two changes find nothing (the first change out of the window)?
    for i in range(END):
        with ctx.store.write() as s:
            s.add(RegimeSnapshot(ts=t0 + timedelta(minutes=i), symbol=sym, regime_id=1, regime_name="X",
                                 confidence=float(series[i]), raw_score=0.1, volatility_value=0.2, trend_value=0.0,
                                 volatility_class="LOW", trend_class="SIDEWAYS", time_in_regime_s=60.0,
                                 param_version_id=None, modules={}))
        if i >= FIRST + 40 and (i - FIRST) % STEP == 0:
            ctx.clock.advance(timedelta(minutes=STEP))
            found = check_drift(ctx)
            quiet = quiet or (i < SECOND and not found)
            counts[i] = _alarms(ctx)
    assert quiet, "the first change should have left the detector's window before the second"
    assert max(n for i, n in counts.items() if i < SECOND) == 1  # the first change: one alarm
    assert counts[max(counts)] == 2  # the second change: one more
