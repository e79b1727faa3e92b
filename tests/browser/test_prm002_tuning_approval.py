"""Parameters page in Chromium: a pending tuning proposal is shown with its changes and its walk-forward
validation table, and an admin's Approve applies it as an audited version authored by that admin."""
from __future__ import annotations

import pandas as pd
from sqlalchemy import select

from engine.audit import recent
from engine.params.versions import active_params, active_version_id, apply_version
from engine.store.models import ParamVersion
from engine.tuning import proposals
from engine.tuning.edit import edited
from engine.tuning.tuner import Change, TuningResult
from engine.tuning.validation import ValidationReport
from tests.auth_helpers import browser_login
from tests.browser.test_prm_parameters import wait_until
from tests.tuning_fixtures import PER_DAY, poor_version


def _pending(ctx) -> int:  # type: ignore[no-untyped-def]
    """A tuning run's proposal on a version that asks for human approval (one parameter changed, 3 -> 4)."""
    cur = apply_version(ctx.store, poor_version(require_human_approval=True), "alice", "ui", clock=ctx.clock)
    folds = pd.DataFrame([{"fold": 1, "start": pd.Timestamp("2026-01-05 15:00", tz="UTC"),
                           "end": pd.Timestamp("2026-01-05 15:40", tz="UTC"), "bars": 40, "current": 0.4,
                           "candidate": 0.5, "current_return": 0.0, "candidate_return": 0.01, "buy_hold": 0.002,
                           "cash": 0.0}])
    result = TuningResult([Change(PER_DAY, 3.0, 4.0)], edited(cur, {PER_DAY: 4}), 1, 0.0, 0.4, 0.5,
                          ValidationReport(folds, gain=0.25, source="backtest", measure="backtest sharpe"), True,
                          "out-of-sample gain +25.0%")
    return proposals.record(ctx.store, cur, result, seed=1, clock=ctx.clock)


def test_prm002_an_admin_approves_a_pending_proposal(dash_duo, embedded_app) -> None:  # type: ignore[no-untyped-def]
    app = embedded_app()
    ctx = app.server.extensions["regimedesk"]
    browser_login(dash_duo, app, role="admin", name="ada")

    def active_id() -> int | None:
        with ctx.store.read() as s:
            return active_version_id(s)

    wait_until(active_id, 20, "the engine's default parameter version")
    pid = _pending(ctx)
    dash_duo.driver.get(dash_duo.server_url + "/parameters")
    dash_duo.wait_for_contains_text("#parameters-tuning-proposals", "pending", timeout=20)
    dash_duo.wait_for_contains_text("#parameters-tuning-proposals", "max_transitions_per_day: 3 -> 4", timeout=5)

    dash_duo.select_dcc_dropdown("#parameters-tuning-proposal", index=0)
    dash_duo.wait_for_contains_text("#parameters-tuning-validation", "Walk-forward validation by backtest", timeout=20)
    dash_duo.wait_for_contains_text("#parameters-tuning-validation", "25.0%", timeout=5)

    dash_duo.find_element("#parameters-tuning-approve").click()
    dash_duo.wait_for_contains_text("#parameters-tuning-message", f"proposal {pid} applied as version", timeout=20)
    dash_duo.wait_for_contains_text("#parameters-tuning-proposals", "ada", timeout=20)  # decided by
    with ctx.store.read() as s:
        newest = s.scalars(select(ParamVersion).order_by(ParamVersion.id.desc())).first()
        assert newest is not None and newest.source == "tuning" and "ada" in newest.author
        assert "ada" in recent(s, action_prefix="tuning.apply")[0].actor
        applied = active_params(s)
    assert applied.content_hash == newest.content_hash
    assert [v.status for v in proposals.list_proposals(ctx.store) if v.id == pid] == ["applied"]
