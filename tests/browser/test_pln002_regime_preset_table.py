"""Planner page in the browser: a trader edits the regime → preset table; the store and the audit trail have it."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.planner import api
from engine.store.models import AuditEvent
from tests.auth_helpers import browser_login
from tests.planner_page_fixtures import scroll_click, scroll_to, seeded_app

pytestmark = pytest.mark.slow  # about a minute on a loaded machine

REGIME = "Bearish_High_Vol"
DROPDOWN = f"[id='{{\"name\":\"{REGIME}\",\"type\":\"planner-regime\"}}']"


def test_pln002_edit_the_regime_preset_table(dash_duo, test_settings) -> None:  # type: ignore[no-untyped-def]
    app, ctx = seeded_app(test_settings(engine_mode="none"))
    browser_login(dash_duo, app, role="trader", path="/planner")
    dash_duo.wait_for_contains_text("#planner-summary", "Preset default", timeout=30)  # the layout is settled
    scroll_click(dash_duo, [a for a in dash_duo.find_elements("#planner-tabs .nav-link") if "Regime" in a.text][0])
    scroll_to(dash_duo, DROPDOWN)
    dash_duo.select_dcc_dropdown(DROPDOWN, value="conservative")
    scroll_click(dash_duo, dash_duo.find_element("#planner-regime-save"))
    dash_duo.wait_for_contains_text("#planner-regime-message", f"Saved: {REGIME} → conservative", timeout=20)
    with ctx.store.read() as s:
        table = api.regime_preset_table(s)
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "planner.set_regime_presets")).one()
    assert table[REGIME] == "conservative"
    assert {p for r, p in table.items() if r != REGIME} == {"default"}
    assert event.actor == "web:trader" and event.details["to"][REGIME] == "conservative"
    ctx.store.dispose()
