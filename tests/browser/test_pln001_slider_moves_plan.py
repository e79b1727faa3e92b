"""Planner page in the browser: moving a slider changes the plan shown for the current portfolio."""
from __future__ import annotations

import pytest
from selenium.webdriver.common.keys import Keys

from tests.auth_helpers import browser_login
from tests.planner_page_fixtures import seeded_app

pytestmark = pytest.mark.slow  # about a minute on a loaded machine: seeding 2,400 bars, planning in the browser's round trips

RISK = "[id='{\"name\":\"risk_appetite\",\"type\":\"planner-slider\"}']"


def test_pln001_moving_a_slider_changes_the_plan(dash_duo, test_settings) -> None:  # type: ignore[no-untyped-def]
    app, ctx = seeded_app(test_settings(engine_mode="none"))
    browser_login(dash_duo, app, role="viewer", path="/planner")
    dash_duo.wait_for_contains_text("#planner-summary", "Preset default ·", timeout=30)
    before = dash_duo.find_element("#planner-steps").text
    assert "risk_weight" in dash_duo.find_element(
        "[id='{\"name\":\"risk_appetite\",\"type\":\"planner-slider-moves\"}']").text
    handle = dash_duo.find_element(f"{RISK} [role=slider]")
    handle.click()
    handle.send_keys(Keys.HOME)  # risk appetite 0: a 20% cash reserve and 10% per name at most
    dash_duo.wait_for_contains_text("#planner-summary", "Preset default (tuned)", timeout=30)
    after = dash_duo.find_element("#planner-steps").text
    assert after != before, after
    ctx.store.dispose()
