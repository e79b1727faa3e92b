"""Planner page in the browser: a typed slider value outside 0..1 is said and clamped; a trader saves a user
preset, renames it and deletes it through the confirm dialog; the store and the audit trail have each step."""
from __future__ import annotations

import pytest
from selenium.webdriver.common.keys import Keys
from sqlalchemy import select

from engine.planner import preset_store
from engine.store.models import AuditEvent
from tests.auth_helpers import browser_login
from tests.planner_page_fixtures import scroll_click, scroll_to, seeded_app

pytestmark = pytest.mark.slow  # about a minute on a loaded machine

BOX = "[id='{\"name\":\"risk_appetite\",\"type\":\"planner-slider-box\"}']"
HANDLE = "[id='{\"name\":\"risk_appetite\",\"type\":\"planner-slider\"}'] [role=slider]"


def _presets(ctx) -> set[str]:  # type: ignore[no-untyped-def]
    with ctx.store.read() as s:
        return set(preset_store.list_presets(s))


def test_pln005_slider_box_then_save_rename_delete(dash_duo, test_settings) -> None:  # type: ignore[no-untyped-def]
    app, ctx = seeded_app(test_settings(engine_mode="none"))
    browser_login(dash_duo, app, role="trader", path="/planner")
    dash_duo.wait_for_contains_text("#planner-summary", "Preset default", timeout=30)

    box = scroll_to(dash_duo, BOX)
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys("1.7", Keys.ENTER)  # debounce: sent on Enter
    dash_duo.wait_for_contains_text("#planner-slider-message", "1.7 is outside 0..1; used 1.0", timeout=20)
    dash_duo.wait_for_element(f"{HANDLE}[aria-valuenow='1']", timeout=20)  # the slider moved to the end
    assert dash_duo.find_element(BOX).get_attribute("value") == "1"

    scroll_click(dash_duo, [a for a in dash_duo.find_elements("#planner-tabs .nav-link") if "User" in a.text][0])
    name = scroll_to(dash_duo, "#planner-save-name")
    name.send_keys("my book")
    scroll_click(dash_duo, dash_duo.find_element("#planner-save"))
    dash_duo.wait_for_contains_text("#planner-save-message", "Saved 'my book' version 1", timeout=20)
    assert "my book" in _presets(ctx)

    rename = scroll_to(dash_duo, "#planner-rename-name")
    rename.send_keys("calm book")
    scroll_click(dash_duo, dash_duo.find_element("#planner-rename"))
    dash_duo.wait_for_contains_text("#planner-manage-message", "Renamed 'my book' to 'calm book'", timeout=20)
    assert {"calm book"} <= _presets(ctx) and "my book" not in _presets(ctx)

    scroll_click(dash_duo, dash_duo.find_element("#planner-delete"))
    dash_duo.wait_for_contains_text("#planner-delete-body", "calm book", timeout=20)
    assert "calm book" in _presets(ctx)  # the dialog alone deletes nothing
    dash_duo.find_element("#planner-delete-confirm").click()
    dash_duo.wait_for_contains_text("#planner-manage-message", "Deleted 'calm book'", timeout=20)
    assert "calm book" not in _presets(ctx)
    with ctx.store.read() as s:
        actions = [e.action for e in s.scalars(select(AuditEvent).where(AuditEvent.actor == "web:trader")
                                               .order_by(AuditEvent.id))]
    assert [a for a in actions if a.startswith("planner.")][-2:] == ["planner.rename_preset", "planner.delete_preset"]
    ctx.store.dispose()
