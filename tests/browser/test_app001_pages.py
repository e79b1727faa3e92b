"""Every page loads in headless Chromium without console errors and shows live values that change."""
from __future__ import annotations

import time

import pytest

from tests.auth_helpers import browser_login

PAGES = {
    "/": ("#overview-equity", "Overview"),
    "/regime": ("#regime-bar-count", "Regime"),
    "/parameters": ("h3", "Parameters"),
    "/planner": ("#planner-sliders", "Planner"),
    "/health": ("#health-jobs", "Health"),
    "/trading": ("h3", "Trading"),
    "/risk": ("#risk-stress", "Risk"),
    "/performance": ("#performance-fills-count", "Performance"),
    "/audit": ("#audit-count", "Audit"),
    "/users": ("#users-table", "Users"),
}


def _severe_console_errors(dash_duo) -> list[dict]:  # type: ignore[no-untyped-def]
    return [entry for entry in dash_duo.get_logs() or [] if entry.get("level") == "SEVERE"]


def test_app001_every_page_loads_without_console_errors(dash_duo, embedded_app) -> None:  # type: ignore[no-untyped-def]
    app = embedded_app()
    browser_login(dash_duo, app)
    for path, (selector, title) in PAGES.items():
        dash_duo.driver.get(dash_duo.server_url + path)
        dash_duo.wait_for_element(selector, timeout=15)
        dash_duo.wait_for_contains_text("#banner-state", "Trading", timeout=15)
        assert dash_duo.find_element(f"#nav-{title.lower()}") is not None
        assert _severe_console_errors(dash_duo) == [], path
    dash_duo.driver.get(dash_duo.server_url + "/no-such-page")
    dash_duo.wait_for_element("#not-found-page", timeout=10)


@pytest.mark.parametrize(("path", "selector"), [
    ("/", "#overview-prices"),
    ("/health", "#health-jobs"),
    ("/regime", "#regime-bar-count"),
])
def test_app002_live_values_change_between_refreshes(dash_duo, embedded_app, path: str, selector: str) -> None:  # type: ignore[no-untyped-def]
    app = embedded_app()
    browser_login(dash_duo, app)
    dash_duo.driver.get(dash_duo.server_url + path)
    dash_duo.wait_for_element(selector, timeout=15)
    deadline = time.time() + 20
    first = dash_duo.find_element(selector).text
    while not first or first == "…" or "no " in first[:3]:
        assert time.time() < deadline, f"{selector} never filled in: {first!r}"
        time.sleep(0.3)
        first = dash_duo.find_element(selector).text
    while dash_duo.find_element(selector).text == first:
        assert time.time() < deadline, f"{selector} did not change: {first!r}"
        time.sleep(0.3)
    assert _severe_console_errors(dash_duo) == []
