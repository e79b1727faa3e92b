"""The drift job on a real store: a constructed shift in stored snapshots warns (health), notifies over
real HTTP, is audited and (retraining_trigger DRIFT_BASED) records a refit request; once per change."""
from __future__ import annotations

from datetime import timedelta

import numpy as np
from sqlalchemy import select

from engine import notify
from engine.audit import recent
from engine.clock import ManualClock
from engine.health.grades import DEGRADED, HEALTHY
from engine.params.paramset import default_params
from engine.params.versions import apply_version
from engine.runtime import build_context
from engine.settings import load_settings
from engine.store.keyvalue import get_value
from engine.store.models import ParamVersion, RegimeSnapshot
from engine.tuning.drift_job import DRIFT_KEY, REFIT_KEY, check_drift, drift_check
from engine.tuning.edit import edited
from tests.notify_receiver import Receiver


def _snapshots(ctx, confidence: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    t0 = ctx.clock.now() - timedelta(minutes=len(confidence))
    sym = ctx.source.index_symbol()
    with ctx.store.write() as s:
        for i, c in enumerate(confidence):
            s.add(RegimeSnapshot(ts=t0 + timedelta(minutes=i), symbol=sym, regime_id=1, regime_name="X",
                                 confidence=float(c), raw_score=0.1, volatility_value=0.2, trend_value=0.0,
                                 volatility_class="LOW", trend_class="SIDEWAYS", time_in_regime_s=60.0,
                                 param_version_id=None, modules={}))


def _ctx(url: str):  # type: ignore[no-untyped-def]
    settings = load_settings(database_url=url)
    return build_context(settings, with_source=True, migrate=True, clock=ManualClock())


def test_a_shift_in_stored_confidence_warns_notifies_and_requests_a_refit(any_db_url: str) -> None:
    ctx = _ctx(any_db_url)
    apply_version(ctx.store, edited(default_params(), {("AdaptiveLearning", "main", "retraining_trigger"):
                                                       "DRIFT_BASED"}), "test", "cli", clock=ctx.clock)
    rng = np.random.default_rng(5)
    _snapshots(ctx, np.clip(np.r_[rng.normal(0.8, 0.03, 300), rng.normal(0.5, 0.03, 300)], 0, 1))
    assert drift_check(ctx).status == HEALTHY
    with Receiver() as rx:
        notify.configure([rx.url()])
        try:
            found = check_drift(ctx)
            got = rx.wait_for(1)
        finally:
            notify.configure([])
    assert [f.feature for f in found] == ["confidence"]
    assert "drift" in got[0]["json"]["title"].lower() and "confidence" in got[0]["json"]["message"]
    with ctx.store.read() as s:
        assert "confidence" in get_value(s, DRIFT_KEY)["findings"][0]
        assert "confidence" in get_value(s, REFIT_KEY)["reason"]
        events = recent(s, action_prefix="tuning.drift")
        assert len(events) == 1 and events[0].actor == "system:drift"
        n_versions = len(list(s.scalars(select(ParamVersion.id))))
    assert drift_check(ctx).status == DEGRADED
    check_drift(ctx)  # the same change again: no second warning
    with ctx.store.read() as s:
        assert len(recent(s, action_prefix="tuning.drift")) == 1
        assert len(list(s.scalars(select(ParamVersion.id)))) == n_versions  # drift never writes parameters
    ctx.clock.advance(timedelta(hours=25))
    assert drift_check(ctx).status == HEALTHY


def test_a_stationary_history_raises_nothing(any_db_url: str) -> None:
    ctx = _ctx(any_db_url)
    rng = np.random.default_rng(6)
    _snapshots(ctx, np.clip(rng.normal(0.7, 0.05, 600), 0, 1))
    assert check_drift(ctx) == []
    with ctx.store.read() as s:
        assert get_value(s, DRIFT_KEY) is None and get_value(s, REFIT_KEY) is None
