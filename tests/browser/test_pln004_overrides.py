"""Planner page in the browser: a numeric override changes the plan, is refused when it is text, is saved with a
user preset version, and comes back when that version is restored after a reload.

Hand reasoning for the plan: the seeded portfolio's default plan buys two names (~$82k and ~$105k) at a cost of
$1 + 0.05% of notional each. An override of costs.proportional = 0.05 (the allowed maximum, 100x) makes each buy
cost 5% of its notional, ~10% for a round trip: more than the few percent of expected return a buy is scored
for, so holding scores best and the plan has no trades.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.planner import api
from engine.store.models import AuditEvent
from tests.auth_helpers import browser_login
from tests.planner_page_fixtures import scroll_click, scroll_to, seeded_app

pytestmark = pytest.mark.slow  # a couple of minutes on a loaded machine

KEY_LABEL = "costs.proportional (float from 0 to 0.05; now 0.0005)"  # preset_schema.SPEC, config/planner/default.toml
NO_TRADES = "No trades: holding is the best plan for this portfolio."


def _open_tab(dash_duo, title: str) -> None:  # type: ignore[no-untyped-def]
    scroll_click(dash_duo, [a for a in dash_duo.find_elements("#planner-tabs .nav-link") if title in a.text][0])


def _type(dash_duo, selector: str, text: str) -> None:  # type: ignore[no-untyped-def]
    box = scroll_to(dash_duo, selector)
    box.clear()
    box.send_keys(text)


def test_pln004_override_changes_plan_saved_and_restored(dash_duo, test_settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    app, ctx = seeded_app(test_settings(engine_mode="none"))
    browser_login(dash_duo, app, role="trader", path="/planner")
    dash_duo.wait_for_contains_text("#planner-summary", "Preset default ·", timeout=30)
    assert len(dash_duo.find_elements("#planner-steps tbody tr")) >= 2, "the seeded default plan buys two names"

    scroll_to(dash_duo, "#planner-override-key")
    dash_duo.select_dcc_dropdown("#planner-override-key", value=KEY_LABEL)
    dash_duo.wait_for_contains_text("#planner-override-key-help", "in effect now 0.0005 (set by base default)",
                                    timeout=15)
    _type(dash_duo, "#planner-override-value", "abc")  # hostile: text where a number belongs
    scroll_click(dash_duo, dash_duo.find_element("#planner-override-add"))
    dash_duo.wait_for_contains_text(
        "#planner-override-message",
        "Not added: Planner page override: key 'costs.proportional' = 'abc' is not a value; "
        "allowed: float from 0 to 0.05", timeout=15)
    assert "No overrides" in dash_duo.find_element("#planner-override-rows").text
    assert "Preset default ·" in dash_duo.find_element("#planner-summary").text  # the plan on screen is kept

    _type(dash_duo, "#planner-override-value", "0.05")
    scroll_click(dash_duo, dash_duo.find_element("#planner-override-add"))
    dash_duo.wait_for_contains_text("#planner-override-message", "costs.proportional = 0.05 overrides", timeout=15)
    dash_duo.wait_for_contains_text("#planner-summary", "Preset default (tuned) ·", timeout=30)
    dash_duo.wait_for_contains_text("#planner-steps", NO_TRADES, timeout=30)
    assert "costs.proportional" in dash_duo.find_element("#planner-precedence").text
    shots = Path(os.environ.get("REGIMEDESK_SCREENSHOT_DIR") or tmp_path)
    dash_duo.driver.set_window_size(1440, 1600)
    dash_duo.driver.save_screenshot(str(shots / "pln004-override.png"))
    with ctx.store.read() as s:
        assert api.preset_versions(s, "dear") == []  # nothing was saved by editing

    _open_tab(dash_duo, "User presets")
    _type(dash_duo, "#planner-save-name", "dear")
    scroll_click(dash_duo, dash_duo.find_element("#planner-save"))
    dash_duo.wait_for_contains_text("#planner-save-message", "Saved 'dear' version 1 (base default)", timeout=20)

    dash_duo.driver.get(dash_duo.server_url + "/planner")  # reload: the page opens on the preset in force
    dash_duo.wait_for_contains_text("#planner-summary", "Preset default ·", timeout=30)
    assert "No overrides" in dash_duo.find_element("#planner-override-rows").text
    _open_tab(dash_duo, "User presets")
    dash_duo.wait_for_contains_text("#planner-versions", "web:trader", timeout=15)
    dash_duo.wait_for_contains_text("#planner-versions", "costs.proportional=0.05", timeout=15)
    scroll_click(dash_duo, dash_duo.find_element("#planner-restore"))
    dash_duo.wait_for_contains_text("#planner-restore-message", "Restored dear version 1 as version 2", timeout=20)
    dash_duo.wait_for_contains_text("#planner-summary", "Preset dear ·", timeout=30)  # loaded in the controls
    dash_duo.wait_for_contains_text("#planner-steps", NO_TRADES, timeout=30)
    assert "costs.proportional" in dash_duo.find_element("#planner-override-rows").text

    with ctx.store.read() as s:
        versions = api.preset_versions(s, "dear")
        events = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "planner.save_preset")))
    assert [(v.version, v.author, v.base, v.overrides) for v in versions] == [
        (1, "web:trader", "default", {"costs.proportional": 0.05}),
        (2, "web:trader", "default", {"costs.proportional": 0.05})]
    assert [e.actor for e in events] == ["web:trader", "web:trader"]
    ctx.store.dispose()
