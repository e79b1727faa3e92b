"""The Risk page over HTTP on SQLite and PostgreSQL: a viewer reads it but cannot save scenarios; a trader
saves, replaces and deletes them (each audited with who did it); bad text gets a message naming the item."""
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


def _edit(client, dep, trigger: str, name: str, text: str = ""):  # type: ignore[no-untyped-def]
    return wr.call(client, dep, {f"{trigger}.n_clicks": 1, "risk-scenario-name.value": name,
                                 "risk-scenario-shocks.value": text}, trigger=f"{trigger}.n_clicks")


def test_traders_edit_scenarios_viewers_only_read(app) -> None:  # type: ignore[no-untyped-def]
    trader = login_client(app, "trader")
    dep = wr.find(wr.dependencies(trader), "risk-scenario-msg.children")
    saved = _edit(trader, dep, "risk-scenario-save", "rates shock", "growth=-6, ALFA=-10%, INDEX=-2.5")
    assert saved.status_code == 200 and "saved 'rates shock' (3 shocks)" in saved.get_data(as_text=True)
    replaced = _edit(trader, dep, "risk-scenario-save", "rates shock", "growth=-7")
    assert "saved 'rates shock' (1 shocks)" in replaced.get_data(as_text=True)
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

    gone = _edit(trader, dep, "risk-scenario-delete", "rates shock")
    assert "deleted 'rates shock'" in gone.get_data(as_text=True)
    with _store(app).read() as s:
        assert user_scenarios(s) == []
        assert s.scalars(select(AuditEvent).where(AuditEvent.action == "risk.scenario.delete")).one().details == {
            "shocks": {"growth": -0.07}}
