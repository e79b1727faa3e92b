"""Two admins approve the same pending tuning proposal at once (two web workers) on a real store: exactly
one claims it and applies it, the other is told who already did, and the record names the one who applied."""
from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import select

from engine.audit import recent
from engine.clock import ManualClock
from engine.runtime import build_context
from engine.settings import load_settings
from engine.store.models import ParamVersion, TuningProposal
from engine.tuning import proposals
from tests.tuning_fixtures import pending_proposal


def _ctx(url: str):  # type: ignore[no-untyped-def]
    return build_context(load_settings(database_url=url), with_source=True, migrate=True, clock=ManualClock())


def test_two_concurrent_approvals_apply_once_and_name_the_approver(
        any_db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = _ctx(any_db_url)
    pid = pending_proposal(ctx)
    real = proposals.apply_version

    def slow_apply(*a: Any, **k: Any) -> Any:
        time.sleep(0.3)  # a slow request: the other approval arrives while this one is applying
        return real(*a, **k)

    monkeypatch.setattr(proposals, "apply_version", slow_apply)
    results: dict[str, tuple[str, object]] = {}

    def go(who: str, delay: float) -> None:
        time.sleep(delay)
        try:
            results[who] = ("ok", proposals.approve(ctx.store, pid, who, clock=ctx.clock))
        except proposals.ProposalError as e:
            results[who] = ("refused", str(e))

    threads = [threading.Thread(target=go, args=("admin-bob", 0.0)), threading.Thread(target=go, args=("admin-dan", 0.05))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    winners = [w for w, r in results.items() if r[0] == "ok"]
    losers = [w for w, r in results.items() if r[0] == "refused"]
    assert len(winners) == 1 and len(losers) == 1, results
    winner, loser = winners[0], losers[0]
    assert "already" in str(results[loser][1]) and winner in str(results[loser][1])
    with ctx.store.read() as s:
        versions = list(s.scalars(select(ParamVersion).order_by(ParamVersion.id)))
        row = s.get(TuningProposal, pid)
        applies = recent(s, action_prefix="tuning.apply")
        stale = recent(s, action_prefix="tuning.stale")
    assert [v.author for v in versions] == ["alice", winner]  # one new version, by the one who claimed it
    assert row is not None and row.status == "applied" and row.decided_by == winner
    assert row.applied_version_id == versions[-1].id == results[winner][1]
    assert [e.actor for e in applies] == [winner] and not stale


def test_a_late_approval_or_rejection_says_who_decided(any_db_url: str) -> None:
    ctx = _ctx(any_db_url)
    pid = pending_proposal(ctx)
    proposals.approve(ctx.store, pid, "admin-bob", clock=ctx.clock)
    with pytest.raises(proposals.ProposalError, match="already applied by admin-bob"):
        proposals.approve(ctx.store, pid, "admin-dan", clock=ctx.clock)
    with pytest.raises(proposals.ProposalError, match="already applied by admin-bob"):
        proposals.reject(ctx.store, pid, "admin-dan", clock=ctx.clock)
    with ctx.store.read() as s:
        row = s.get(TuningProposal, pid)
        assert row is not None and row.status == "applied" and row.decided_by == "admin-bob"
