"""Tuning proposals on a real store (SQLite and PostgreSQL): an auto-applied candidate whose base version was replaced
during the run is kept as stale (audited) instead of failing the tuning job; a candidate that no longer passes the
parameter rules is refused with an audited refusal and stays pending; every pending proposal can be listed and read
whatever its age."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from sqlalchemy import select

from engine.audit import recent
from engine.clock import ManualClock
from engine.params.errors import ValidationError
from engine.params.paramset import ParamSet
from engine.params.versions import active_params, apply_version
from engine.runtime import build_context
from engine.settings import load_settings
from engine.store.models import ParamVersion, TuningProposal
from engine.tuning import proposals
from engine.tuning.edit import edited
from engine.tuning.tuner import Change, TuningResult
from engine.tuning.validation import ValidationReport
from tests.tuning_fixtures import PER_DAY, poor_version


def _ctx(url: str):  # type: ignore[no-untyped-def]
    return build_context(load_settings(database_url=url), with_source=False, migrate=True, clock=ManualClock())


def _result(cur: ParamSet, per_day: int, beats: bool) -> TuningResult:
    folds = pd.DataFrame([{"fold": 1, "start": pd.Timestamp("2026-01-05 15:00", tz="UTC"),
                           "end": pd.Timestamp("2026-01-05 15:40", tz="UTC"), "bars": 40, "current": 0.4,
                           "candidate": 0.5 if beats else 0.3}])
    return TuningResult([Change(PER_DAY, 3.0, float(per_day))], edited(cur, {PER_DAY: per_day}), 1, 0.0, 0.4, 0.5,
                        ValidationReport(folds, gain=0.25 if beats else -0.25, source="backtest"), beats,
                        "beats" if beats else "not better")


def test_an_auto_apply_on_a_replaced_version_is_kept_as_stale_not_raised(any_db_url: str) -> None:
    ctx = _ctx(any_db_url)
    cur = apply_version(ctx.store, poor_version(require_human_approval=False), "alice", "ui", clock=ctx.clock)
    newer = apply_version(ctx.store, edited(cur, {PER_DAY: 5}), "carol", "ui", clock=ctx.clock)  # during the run
    pid = proposals.record(ctx.store, cur, _result(cur, 4, True), seed=1, clock=ctx.clock)  # raised before
    with ctx.store.read() as s:
        row = s.get(TuningProposal, pid)
        assert row is not None and row.status == "stale" and row.applied_version_id is None
        assert active_params(s).version_id == newer.version_id  # carol's version stays active
        assert len(s.scalars(select(ParamVersion)).all()) == 2
        propose = recent(s, action_prefix="tuning.propose")[0]
        stale = recent(s, action_prefix="tuning.stale")[0]
    # the audit says what was stored (pending, to be auto-applied), not "applied"
    assert propose.details["status"] == "pending" and propose.details["auto_apply"] is True
    assert stale.target == f"tuning_proposal:{pid}" and stale.outcome == "refused"


def test_an_auto_apply_on_the_active_version_is_audited_as_proposed_then_applied(any_db_url: str) -> None:
    ctx = _ctx(any_db_url)
    cur = apply_version(ctx.store, poor_version(require_human_approval=False), "alice", "ui", clock=ctx.clock)
    pid = proposals.record(ctx.store, cur, _result(cur, 4, True), seed=1, clock=ctx.clock)
    with ctx.store.read() as s:
        row = s.get(TuningProposal, pid)
        assert row is not None and row.status == "applied"
        assert active_params(s).version_id == row.applied_version_id != cur.version_id
        apply, propose = recent(s, action_prefix="tuning.")[:2]
    assert (apply.action, propose.action) == ("tuning.apply", "tuning.propose")
    assert propose.details["status"] == "pending" and propose.details["auto_apply"] is True
    assert apply.details["version_id"] == row.applied_version_id


def test_a_candidate_that_no_longer_validates_stays_pending_and_the_refusal_is_audited(any_db_url: str) -> None:
    ctx = _ctx(any_db_url)
    cur = apply_version(ctx.store, poor_version(require_human_approval=True), "alice", "ui", clock=ctx.clock)
    pid = proposals.record(ctx.store, cur, _result(cur, 4, True), seed=1, clock=ctx.clock)
    with ctx.store.write() as s:  # stored under an older schema whose bound was wider
        row = s.get(TuningProposal, pid)
        assert row is not None
        canon = json.loads(row.values_json)
        canon["sheets"]["StabilityConfiguration"]["main"]["max_transitions_per_day"] = 1000
        row.values_json = json.dumps(canon)
    with pytest.raises(ValidationError):
        proposals.approve(ctx.store, pid, "web:ada", clock=ctx.clock)
    with ctx.store.read() as s:
        row = s.get(TuningProposal, pid)
        assert row is not None and row.status == "pending" and row.decided_by is None
        refused = recent(s, action_prefix="tuning.apply")
        assert len(s.scalars(select(ParamVersion)).all()) == 1
    assert len(refused) == 1 and refused[0].outcome == "refused" and refused[0].actor == "web:ada"
    assert "max_transitions_per_day" in " ".join(refused[0].details["errors"])


def test_every_pending_proposal_is_listed_whatever_its_age(any_db_url: str) -> None:
    ctx = _ctx(any_db_url)
    cur = apply_version(ctx.store, poor_version(require_human_approval=True), "alice", "ui", clock=ctx.clock)
    waiting = proposals.record(ctx.store, cur, _result(cur, 4, True), seed=1, clock=ctx.clock)
    later = [proposals.record(ctx.store, cur, _result(cur, 4, False), seed=2, clock=ctx.clock) for _ in range(20)]
    assert waiting not in {v.id for v in proposals.list_proposals(ctx.store)}  # the newest 20: all not_better
    assert [v.id for v in proposals.pending_proposals(ctx.store)] == [waiting]
    view = proposals.get_proposal(ctx.store, waiting)
    assert view is not None and view.status == "pending" and view.validation["gain"] == 0.25
    assert proposals.get_proposal(ctx.store, max(later) + 1) is None
