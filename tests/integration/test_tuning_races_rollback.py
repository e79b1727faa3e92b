"""Auto-rollback against a concurrent admin on a real store: a version applied by another web worker
between check_rollback's read of the scorecard and its write must not be undone on the strength of the
tuned version's live score; the rollback is refused as stale and the refusal audited."""
from __future__ import annotations

from collections.abc import Callable, Collection

import pandas as pd
import pytest
from sqlalchemy import select

import engine.tuning.rollback as rb
from engine.audit import recent
from engine.clock import ManualClock
from engine.params.paramset import ParamSet
from engine.params.versions import active_params, apply_version
from engine.runtime import build_context
from engine.settings import load_settings
from engine.store.models import ParamVersion
from engine.tuning import proposals
from engine.tuning.edit import edited
from engine.tuning.tuner import Change, TuningResult
from engine.tuning.validation import ValidationReport
from tests.tuning_fixtures import PER_DAY, live_snapshots, poor_version

_live = live_snapshots


def test_rollback_is_refused_when_an_admin_applied_a_version_meanwhile(
        any_db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = build_context(load_settings(database_url=any_db_url), with_source=True, migrate=True, clock=ManualClock())
    base = edited(poor_version(), {("AdaptiveTuning", "main", "require_human_approval"): False})
    before = apply_version(ctx.store, base, "alice", "ui", clock=ctx.clock)
    _live(ctx, before.version_id or 0, 100, accurate=True)
    rep = ValidationReport(pd.DataFrame([{"fold": 1, "current": 0.4, "candidate": 0.5}]), source="backtest", gain=0.25)
    proposals.record(ctx.store, before, TuningResult([Change(PER_DAY, 3, 4)], edited(base, {PER_DAY: 4}), 1, 0,
                                                     0.4, 0.5, rep, True, "forced"), 3, clock=ctx.clock)
    with ctx.store.read() as s:
        tuned = active_params(s)
    assert tuned.version_id != before.version_id
    _live(ctx, tuned.version_id or 0, 100, accurate=False)  # the tuned version does badly: a rollback is due

    manual = edited(base, {PER_DAY: 7})
    real = rb.objective_of

    def with_concurrent_admin(ps: ParamSet, *only: Collection[str]) -> Callable[[ParamSet, pd.DataFrame], float]:
        """check_rollback scores between its read and its write: another worker's admin applies a version then."""
        f = real(ps, *only)
        done: list[int] = []

        def value(params: ParamSet, h: pd.DataFrame) -> float:
            if not done:
                done.append(1)
                apply_version(ctx.store, manual, "admin-carol", "ui", clock=ctx.clock,
                              expected_parent=tuned.version_id)
            return f(params, h)
        return value

    monkeypatch.setattr(rb, "objective_of", with_concurrent_admin)
    assert rb.check_rollback(ctx) is None
    with ctx.store.read() as s:
        rows = list(s.scalars(select(ParamVersion).order_by(ParamVersion.id)))
        active = active_params(s)
        refusals = [e for e in recent(s, action_prefix="tuning.rollback") if e.outcome == "refused"]
        done_ok = [e for e in recent(s, action_prefix="tuning.rollback") if e.outcome == "ok"]
    assert active.content_hash == manual.content_hash  # the admin's version stays active
    assert [r.author for r in rows] == ["alice", "system:tuning", "admin-carol"]  # nothing applied after it
    assert not any(r.source == "rollback" for r in rows)
    assert len(refusals) == 1 and not done_ok
    assert refusals[0].actor == "system:tuning" and refusals[0].target == f"param_version:{tuned.version_id}"
