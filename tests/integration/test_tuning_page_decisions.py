"""The Parameters page's tuning callbacks over real Dash requests (SQLite and PostgreSQL): a pending proposal stays
offered for approval after newer runs, a request naming neither button decides nothing, an approval of a candidate
that no longer validates says so, and a proposal's stored validation table is shown whatever its age."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from engine.params.versions import active_params, apply_version
from engine.store.models import TuningProposal
from engine.tuning import proposals
from engine.tuning.edit import edited
from engine.tuning.tuner import Change, TuningResult
from engine.tuning.validation import ValidationReport
from tests import web_requests as wr
from tests.auth_helpers import login_client
from tests.tuning_fixtures import PER_DAY, pending_proposal, tuning_app

PROPOSAL, APPROVE, REJECT = "parameters-tuning-proposal.value", "parameters-tuning-approve.n_clicks", \
    "parameters-tuning-reject.n_clicks"


@pytest.fixture()
def app(any_db_url: str):  # type: ignore[no-untyped-def]
    with tuning_app(any_db_url) as served:
        yield served


def _not_better_runs(ctx, n: int) -> None:  # type: ignore[no-untyped-def]
    """n later tuning runs whose candidates did not beat the active version (each stores a proposal)."""
    with ctx.store.read() as s:
        cur = active_params(s)
    folds = pd.DataFrame([{"fold": 1, "start": pd.Timestamp("2026-01-05 15:00", tz="UTC"),
                           "end": pd.Timestamp("2026-01-05 15:40", tz="UTC"), "bars": 40, "current": 0.4,
                           "candidate": 0.3}])  # an older run's table: no return columns
    for _ in range(n):
        proposals.record(ctx.store, cur, TuningResult([Change(PER_DAY, 3.0, 4.0)], edited(cur, {PER_DAY: 4}), 1,
                                                      0.0, 0.4, 0.3, ValidationReport(folds, gain=-0.25,
                                                                                      source="backtest"),
                                                      False, "not better"), seed=2, clock=ctx.clock)


def _status(ctx, pid: int) -> str:  # type: ignore[no-untyped-def]
    with ctx.store.read() as s:
        row = s.get(TuningProposal, pid)
        assert row is not None
        return row.status


def test_a_pending_proposal_is_offered_after_newer_runs_and_its_table_shown(app) -> None:  # type: ignore[no-untyped-def]
    application, ctx = app
    pid = pending_proposal(ctx)
    _not_better_runs(ctx, 20)
    admin = login_client(application, "admin", "ada")
    deps = wr.dependencies(admin)
    resp = wr.call(admin, wr.find(deps, "parameters-tuning-proposals"), {"parameters-tuning-message.children": None})
    assert resp.status_code == 200
    assert [o["value"] for o in resp.get_json()["response"]["parameters-tuning-proposal"]["options"]] == [pid]
    show = wr.find(deps, "parameters-tuning-validation", "parameters-tuning-proposal")
    for value in (pid, str(pid)):  # the dropdown's value, and the same number as JSON text
        text = wr.call(admin, show, {PROPOSAL: value}, trigger=PROPOSAL).get_data(as_text=True)
        assert "out-of-sample gain of the backtest objective: 25.0%" in text, text[:300]
    older = wr.call(admin, show, {PROPOSAL: pid + 1}, trigger=PROPOSAL)  # a table without the return columns
    assert older.status_code == 200 and "Current score" in older.get_data(as_text=True)
    assert "-25.0%" in older.get_data(as_text=True)
    with ctx.store.read() as s:
        base = active_params(s)
    newer = apply_version(ctx.store, edited(base, {PER_DAY: 5}), "carol", "ui", clock=ctx.clock)
    resp = wr.call(admin, wr.find(deps, "parameters-tuning-proposals"), {"parameters-tuning-message.children": None})
    [option] = resp.get_json()["response"]["parameters-tuning-proposal"]["options"]
    assert option["value"] == pid and option["label"].endswith(
        f"(made on v{base.version_id}, not the active v{newer.version_id}: approval is refused)")


def test_a_request_naming_neither_button_decides_nothing(app) -> None:  # type: ignore[no-untyped-def]
    application, ctx = app
    pid = pending_proposal(ctx)
    admin = login_client(application, "admin", "ada")
    dep = wr.find(wr.dependencies(admin), "parameters-tuning-message")
    body = wr.build_body(dep, {wr.position(dep, *APPROVE.rsplit(".", 1)): 1,
                               wr.position(dep, *PROPOSAL.rsplit(".", 1)): pid})
    body["changedPropIds"] = []
    resp = admin.post(wr.CALLBACK_URL, json=body)
    assert resp.status_code in (200, 204) and "rejected" not in resp.get_data(as_text=True)
    assert _status(ctx, pid) == "pending"
    none_clicked = wr.call(admin, dep, {PROPOSAL: pid, REJECT: None}, trigger=REJECT)  # a click count of nothing
    assert none_clicked.status_code in (200, 204) and _status(ctx, pid) == "pending"
    rejected = wr.call(admin, dep, {PROPOSAL: pid, REJECT: 1}, trigger=REJECT)
    assert f"proposal {pid} rejected" in rejected.get_data(as_text=True) and _status(ctx, pid) == "rejected"


def test_approving_a_candidate_that_no_longer_validates_names_the_proposal(app) -> None:  # type: ignore[no-untyped-def]
    application, ctx = app
    pid = pending_proposal(ctx)
    with ctx.store.write() as s:
        row = s.get(TuningProposal, pid)
        assert row is not None
        canon = json.loads(row.values_json)
        canon["sheets"]["StabilityConfiguration"]["main"]["max_transitions_per_day"] = 1000
        row.values_json = json.dumps(canon)
    admin = login_client(application, "admin", "ada")
    dep = wr.find(wr.dependencies(admin), "parameters-tuning-message")
    resp = wr.call(admin, dep, {PROPOSAL: pid, APPROVE: 1}, trigger=APPROVE)
    text = resp.get_data(as_text=True)
    assert resp.status_code == 200 and f"proposal {pid} no longer passes the parameter rules" in text, text[:300]
    assert "max_transitions_per_day" in text and _status(ctx, pid) == "pending"


def test_the_card_says_what_the_last_scheduled_run_did(app) -> None:  # type: ignore[no-untyped-def]
    from engine.store.keyvalue import put_value  # local import: only this test writes the engine's note
    from engine.tuning.job import LAST_RUN_KEY  # local import: as above

    application, ctx = app
    viewer = login_client(application, "viewer", "vic")
    dep = wr.find(wr.dependencies(viewer), "parameters-tuning-proposals")
    before = wr.call(viewer, dep, {"parameters-tuning-message.children": None}).get_data(as_text=True)
    assert "no scheduled tuning run yet" in before
    with ctx.store.write() as s:
        put_value(s, LAST_RUN_KEY, {"ts": "2026-01-05T09:30:00-05:00",
                                    "outcome": "skipped: 300 bars < min_samples_required 1000"}, ctx.clock.now())
    text = json.dumps(wr.call(viewer, dep, {"parameters-tuning-message.children": None}).get_json())
    assert "Last scheduled tuning run: 2026-01-05 14:30 UTC: skipped: 300 bars < min_samples_required 1000" in text
