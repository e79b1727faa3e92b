"""The Risk page over HTTP on SQLite and PostgreSQL: a viewer reads it but cannot save scenarios; a trader
saves, replaces and deletes them (each audited with who did it; replacing and deleting only after the confirm
dialog's Confirm); bad text gets a message naming the item."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.portfolio_risk.store_io import user_scenarios
from engine.store.models import AuditEvent
from tests import web_requests as wr
from tests.auth_helpers import login_client


@pytest.fixture
def app(test_settings, any_db_url):  # type: ignore[no-untyped-def]
    from app import create_app

    return create_app(test_settings(database_url=any_db_url, warmup_polls=10), start_engine=False)


def _store(app):  # type: ignore[no-untyped-def]
    from webapp.context import EXTENSION_KEY

    return app.server.extensions[EXTENSION_KEY].store


def _edit(client, dep, trigger: str, name: str = "", text: str = "", pending=None):  # type: ignore[no-untyped-def]
    return wr.call(client, dep, {f"{trigger}.n_clicks": 1, "risk-scenario-name.value": name,
                                 "risk-scenario-shocks.value": text, "risk-scenario-pending.data": pending},
                   trigger=f"{trigger}.n_clicks")


def _outputs(response):  # type: ignore[no-untyped-def]
    """{id: {prop: value}} of a callback response."""
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return response.get_json()["response"]


def test_traders_edit_scenarios_viewers_only_read(app) -> None:  # type: ignore[no-untyped-def]
    trader = login_client(app, "trader")
    dep = wr.find(wr.dependencies(trader), "risk-scenario-msg.children")
    saved = _edit(trader, dep, "risk-scenario-save", "rates shock", "growth=-6, ALFA=-10%, INDEX=-2.5")
    assert saved.status_code == 200 and "saved 'rates shock' (3 shocks)" in saved.get_data(as_text=True)
    asked = _outputs(_edit(trader, dep, "risk-scenario-save", "rates shock", "growth=-7"))
    assert asked["risk-scenario-replace-modal"]["is_open"] is True
    assert asked["risk-scenario-replace-body"]["children"] == (
        "Replace the saved scenario 'rates shock'? Its shocks growth=-6%, ALFA=-10%, INDEX=-2.5% → growth=-7%")
    with _store(app).read() as s:  # nothing replaced until Confirm
        assert {u.name: dict(u.shocks) for u in user_scenarios(s)} == {
            "rates shock": {"growth": -0.06, "ALFA": -0.10, "INDEX": -0.025}}
    pending = asked["risk-scenario-pending"]["data"]
    replaced = _outputs(_edit(trader, dep, "risk-scenario-replace-confirm", pending=pending))
    assert replaced["risk-scenario-replace-modal"]["is_open"] is False
    assert replaced["risk-scenario-pending"]["data"] is None
    assert "saved 'rates shock' (1 shocks)" in str(replaced["risk-scenario-msg"]["children"])
    bad = _edit(trader, dep, "risk-scenario-save", "oops", "ALFA=-5, BRVO minus 3")
    assert "shock 2 ('BRVO minus 3') is not SYMBOL_OR_GROUP=PERCENT" in bad.get_data(as_text=True)
    too_big = _edit(trader, dep, "risk-scenario-save", "oops", "ALFA=-150")
    assert "outside -100%..+1000%" in too_big.get_data(as_text=True)
    with _store(app).read() as s:
        assert [(u.name, dict(u.shocks)) for u in user_scenarios(s)] == [("rates shock", {"growth": -0.07})]
        actions = [(e.action, e.actor, e.role) for e in s.scalars(
            select(AuditEvent).where(AuditEvent.action.like("risk.scenario.%")).order_by(AuditEvent.id))]
    assert [a for a, _, _ in actions] == ["risk.scenario.save", "risk.scenario.save"]
    assert {(actor, role) for _, actor, role in actions} == {("web:trader", "trader")}

    viewer = login_client(app, "viewer")
    refused = _edit(viewer, dep, "risk-scenario-delete", "rates shock")
    assert refused.status_code == 403
    refresh = wr.find(wr.dependencies(viewer), "risk-note.children")
    page = wr.call(viewer, refresh, {"risk-interval.n_intervals": 1})
    assert page.status_code == 200 and "has not computed the book's risk yet" in page.get_data(as_text=True)
    assert "saved: rates shock" in page.get_data(as_text=True)

    ask_delete = _outputs(_edit(trader, dep, "risk-scenario-delete", "rates shock"))
    assert ask_delete["risk-scenario-remove-modal"]["is_open"] is True
    assert ask_delete["risk-scenario-remove-body"]["children"] == (
        "Delete the saved scenario 'rates shock' (growth=-7%)?")
    pending = ask_delete["risk-scenario-pending"]["data"]
    kept = _outputs(_edit(trader, dep, "risk-scenario-remove-cancel", pending=pending))
    assert kept["risk-scenario-remove-modal"]["is_open"] is False
    assert "nothing deleted: 'rates shock' is kept as it was" in str(kept["risk-scenario-msg"]["children"])
    with _store(app).read() as s:
        assert [u.name for u in user_scenarios(s)] == ["rates shock"]
    refused_confirm = _edit(viewer, dep, "risk-scenario-remove-confirm", pending=pending)
    assert refused_confirm.status_code == 403
    gone = _outputs(_edit(trader, dep, "risk-scenario-remove-confirm", pending=pending))
    assert "deleted 'rates shock'" in str(gone["risk-scenario-msg"]["children"])
    with _store(app).read() as s:
        assert user_scenarios(s) == []
        assert s.scalars(select(AuditEvent).where(AuditEvent.action == "risk.scenario.delete")).one().details == {
            "shocks": {"growth": -0.07}}
