"""Parameters page in Chromium: a pending tuning proposal is shown with its changes and its walk-forward
validation table, and an admin's Approve applies it as an audited version authored by that admin."""
from __future__ import annotations

from sqlalchemy import select

from engine.audit import recent
from engine.params.versions import active_params, active_version_id
from engine.store.models import ParamVersion
from engine.tuning import proposals
from tests.auth_helpers import browser_login
from tests.browser.test_prm_parameters import wait_until
from tests.tuning_fixtures import pending_proposal


def test_prm002_an_admin_approves_a_pending_proposal(dash_duo, embedded_app) -> None:  # type: ignore[no-untyped-def]
    app = embedded_app()
    ctx = app.server.extensions["regimedesk"]
    browser_login(dash_duo, app, role="admin", name="ada")

    def active_id() -> int | None:
        with ctx.store.read() as s:
            return active_version_id(s)

    wait_until(active_id, 20, "the engine's default parameter version")
    pid = pending_proposal(ctx)
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
