"""Tuning proposals on a real store: approval / auto-apply / not-better / stale / auto-rollback follow the
workbook's switches, each audited, and parameters change only through apply_version."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.audit import recent
from engine.clock import ManualClock
from engine.params import version_rollback
from engine.params.paramset import ParamSet
from engine.params.versions import active_params, apply_version
from engine.runtime import build_context
from engine.settings import load_settings
from engine.store.models import ParamVersion, TuningProposal
from engine.tuning import proposals
from engine.tuning.edit import edited
from engine.tuning.rollback import MIN_BARS, check_rollback
from engine.tuning.tuner import Change, TuningResult
from engine.tuning.validation import ValidationConfig, detected, objective_of, validate
from tests.tuning_fixtures import PER_DAY, history, live_snapshots, poor_version


def _ctx(url: str, **settings: object):  # type: ignore[no-untyped-def]
    return build_context(load_settings(database_url=url, **settings), with_source=True, migrate=True,
                         clock=ManualClock())


@pytest.fixture(scope="module")
def validated() -> tuple[ParamSet, ParamSet]:
    """A real validation of a real candidate (one parameter changed within the limits)."""
    cur = poor_version(require_human_approval=True)  # the workbook's default is False
    return cur, edited(cur, {PER_DAY: 4})


def _result(cur: ParamSet, cand: ParamSet, beats: bool) -> TuningResult:
    bars, truth, sym = history()
    rep = validate(cur, cand, detected(cur, bars, truth, sym), detected(cand, bars, truth, sym),
                   ValidationConfig.of(cur), objective_of(cur))
    return TuningResult([Change(PER_DAY, 3.0, 4.0)], cand, 1, 0.0, 0.4, 0.5, rep, beats,
                        "forced for the flow test" if beats else rep.note or "not better")


def _versions(ctx) -> list[ParamVersion]:  # type: ignore[no-untyped-def]
    with ctx.store.read() as s:
        return list(s.scalars(select(ParamVersion).order_by(ParamVersion.id)))


def test_with_approval_it_waits_then_an_admin_applies_it(any_db_url: str, validated) -> None:  # type: ignore[no-untyped-def]
    ctx = _ctx(any_db_url)
    cur = apply_version(ctx.store, validated[0], "alice", "ui", clock=ctx.clock)
    pid = proposals.record(ctx.store, cur, _result(cur, validated[1], True), seed=3, clock=ctx.clock)
    assert [v.id for v in _versions(ctx)] == [cur.version_id]  # nothing applied while pending
    view = proposals.list_proposals(ctx.store)[0]
    assert view.status == "pending" and view.changes == ["StabilityConfiguration.main.max_transitions_per_day: 3 -> 4"]
    assert view.validation["folds"] and {c["against"] for c in view.validation["comparisons"]} >= {"current version"}
    new_id = proposals.approve(ctx.store, pid, "admin-bob", clock=ctx.clock)
    rows = _versions(ctx)
    assert rows[-1].id == new_id and rows[-1].author == "admin-bob" and rows[-1].source == "tuning"
    with ctx.store.read() as s:
        assert active_params(s).content_hash == validated[1].content_hash
        actions = [e.action for e in recent(s)]
    assert {"tuning.propose", "tuning.apply", "params.apply"} <= set(actions)
    with pytest.raises(proposals.ProposalError, match="not pending"):
        proposals.reject(ctx.store, pid, "admin-bob")


def test_rejected_proposal_changes_nothing(any_db_url: str, validated) -> None:  # type: ignore[no-untyped-def]
    ctx = _ctx(any_db_url)
    cur = apply_version(ctx.store, validated[0], "alice", "ui", clock=ctx.clock)
    pid = proposals.record(ctx.store, cur, _result(cur, validated[1], True), seed=3, clock=ctx.clock)
    proposals.reject(ctx.store, pid, "admin-bob", "not now", clock=ctx.clock)
    assert [v.id for v in _versions(ctx)] == [cur.version_id]
    with ctx.store.read() as s:
        assert s.get(TuningProposal, pid).status == "rejected"  # type: ignore[union-attr]
        assert recent(s, action_prefix="tuning.reject")[0].actor == "admin-bob"


def test_without_approval_the_system_applies_it_and_not_better_is_only_recorded(any_db_url: str, validated) -> None:  # type: ignore[no-untyped-def]
    ctx = _ctx(any_db_url)
    base = edited(validated[0], {("AdaptiveTuning", "main", "require_human_approval"): False})
    cur = apply_version(ctx.store, base, "alice", "ui", clock=ctx.clock)
    cand = edited(base, {PER_DAY: 4})
    proposals.record(ctx.store, cur, _result(cur, cand, False), seed=3, clock=ctx.clock)
    assert len(_versions(ctx)) == 1  # not better: nothing applied
    proposals.record(ctx.store, cur, _result(cur, cand, True), seed=3, clock=ctx.clock)
    rows = _versions(ctx)
    assert len(rows) == 2 and rows[-1].author == "system:tuning" and rows[-1].source == "tuning"
    statuses = [p.status for p in proposals.list_proposals(ctx.store)]
    assert statuses == ["applied", "not_better"]


def test_a_proposal_made_on_an_older_version_is_refused(any_db_url: str, validated) -> None:  # type: ignore[no-untyped-def]
    ctx = _ctx(any_db_url)
    cur = apply_version(ctx.store, validated[0], "alice", "ui", clock=ctx.clock)
    pid = proposals.record(ctx.store, cur, _result(cur, validated[1], True), seed=3, clock=ctx.clock)
    apply_version(ctx.store, edited(cur, {PER_DAY: 5}), "carol", "ui", clock=ctx.clock)
    with pytest.raises(proposals.ProposalError, match="no longer active"):
        proposals.approve(ctx.store, pid, "admin-bob", clock=ctx.clock)
    assert len(_versions(ctx)) == 2


_live = live_snapshots


def test_auto_rollback_of_a_tuned_version_only(any_db_url: str, validated) -> None:  # type: ignore[no-untyped-def]
    ctx = _ctx(any_db_url)
    base = edited(validated[0], {("AdaptiveTuning", "main", "require_human_approval"): False})
    before = apply_version(ctx.store, base, "alice", "ui", clock=ctx.clock)
    _live(ctx, before.version_id, MIN_BARS, accurate=True)
    manual = apply_version(ctx.store, edited(base, {PER_DAY: 5}), "carol", "ui", clock=ctx.clock)
    _live(ctx, manual.version_id, MIN_BARS, accurate=False)
    assert check_rollback(ctx) is None  # a person applied it: left alone
    tuned_cur = version_rollback.rollback(ctx.store, before.version_id, "carol", clock=ctx.clock)
    _live(ctx, tuned_cur.version_id, MIN_BARS, accurate=True)
    proposals.record(ctx.store, tuned_cur, _result(tuned_cur, edited(base, {PER_DAY: 4}), True), seed=3,
                     clock=ctx.clock)
    tuned = _versions(ctx)[-1]
    assert tuned.source == "tuning"
    _live(ctx, tuned.id, MIN_BARS - 1, accurate=False)
    assert check_rollback(ctx) is None  # not enough live bars yet
    _live(ctx, tuned.id, 1, accurate=False)
    back = check_rollback(ctx)
    rows = _versions(ctx)
    assert back == rows[-1].id and rows[-1].source == "rollback" and rows[-1].author == "system:tuning"
    with ctx.store.read() as s:
        assert active_params(s).content_hash == tuned_cur.content_hash
        assert recent(s, action_prefix="tuning.rollback")[0].details["to"] == tuned_cur.version_id


def test_the_rollback_window_and_the_manual_switch_come_from_the_settings(any_db_url: str, validated) -> None:  # type: ignore[no-untyped-def]
    """REGIMEDESK_ROLLBACK_WINDOW_BARS bounds what is compared; REGIMEDESK_ROLLBACK_MANUAL_VERSIONS lets a version a
    person applied be rolled back too."""
    narrow = _ctx(any_db_url, rollback_window_bars=60, rollback_manual_versions=True)
    base = edited(validated[0], {("AdaptiveTuning", "main", "require_human_approval"): False})
    before = apply_version(narrow.store, base, "alice", "ui", clock=narrow.clock)
    _live(narrow, before.version_id, 60, accurate=True)
    manual = apply_version(narrow.store, edited(base, {PER_DAY: 5}), "carol", "ui", clock=narrow.clock)
    _live(narrow, manual.version_id, 100, accurate=False)
    _live(narrow, manual.version_id, 60, accurate=True)  # the newest 60 bars are as good as before
    assert check_rollback(narrow) is None  # the 60-bar window sees only the good bars
    assert check_rollback(_ctx(any_db_url, rollback_window_bars=390)) is None  # manual versions left alone by default
    wide = _ctx(any_db_url, rollback_window_bars=390, rollback_manual_versions=True)
    back = check_rollback(wide)  # 160 bars, 100 of them wrong: accuracy 0.375 against 1.0 before
    assert back is not None and _versions(wide)[-1].id == back
    with wide.store.read() as s:
        assert active_params(s).content_hash == before.content_hash
