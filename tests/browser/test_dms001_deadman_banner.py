"""The banner's engine line on every page (issue 9): live while the embedded engine beats; red with the
dead-man's switch once its scheduler dies without a shutdown, which halts trading (as system:deadman)
and cancels the open orders from the web process."""
from __future__ import annotations

from app import ENGINE_KEY
from engine.trading import state as ts
from engine.trading.state import TradingState
from tests.auth_helpers import browser_login
from tests.browser.test_trd001_kill_switch_dialog import rest_orders, wait_until
from webapp.context import EXTENSION_KEY


def test_dms001_banner_shows_engine_liveness_and_the_deadman_switch(dash_duo, embedded_app) -> None:  # type: ignore[no-untyped-def]
    app = embedded_app(autotrade=False, deadman_seconds=5, deadman_action="halt")
    ctx = app.server.extensions[EXTENSION_KEY]
    browser_login(dash_duo, app)
    dash_duo.wait_for_contains_text("#banner-engine", "Engine live", timeout=20)
    for page in ("/trading", "/health"):  # the same line on every page
        dash_duo.driver.get(dash_duo.server_url + page)
        dash_duo.wait_for_contains_text("#banner-engine", "Engine live", timeout=20)
    rest_orders(ctx, 5, "dms001")
    app.server.extensions[ENGINE_KEY].request_stop()  # the engine's scheduler dies: no beats, no shutdown steps
    dash_duo.wait_for_contains_text("#banner-engine", "DEAD-MAN'S SWITCH", timeout=20)
    assert "alert-danger" in dash_duo.find_element("#banner-engine").get_attribute("class")
    dash_duo.wait_for_contains_text("#banner-state", "Trading HALTED", timeout=20)
    wait_until(lambda: not ctx.broker.list_open_orders(), 10, "open orders not cancelled by the dead-man's switch")
    with ctx.store.read() as s:
        snap = ts.current(s)
    assert snap.state is TradingState.HALTED and snap.changed_by == "system:deadman"
    dash_duo.wait_for_contains_text("#banner-engine", "action halt", timeout=10)
