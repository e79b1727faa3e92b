"""Pause / resume / graceful shutdown from the Trading page, with their confirm dialog and live steps."""
from __future__ import annotations

import time

from engine.trading import state as ts
from engine.trading.state import TradingState
from tests.auth_helpers import browser_login
from tests.browser.test_trd001_kill_switch_dialog import rest_orders, wait_until
from webapp.context import EXTENSION_KEY


def state_of(ctx) -> TradingState:  # type: ignore[no-untyped-def]
    with ctx.store.read() as s:
        return ts.current(s).state


def test_trd003_pause_then_resume(dash_duo, embedded_app) -> None:  # type: ignore[no-untyped-def]
    app = embedded_app(autotrade=False)
    ctx = app.server.extensions[EXTENSION_KEY]
    browser_login(dash_duo, app, path="/trading")
    dash_duo.wait_for_contains_text("#trading-state", "ACTIVE", timeout=20)
    rest_orders(ctx, 5, "trd003")  # buy limits with no position: entries, cancelled by a pause
    dash_duo.find_element("#trading-reason-input").send_keys("FOMC at 2pm")
    dash_duo.find_element("#trading-pause-button").click()
    dash_duo.wait_for_contains_text("#banner-state", "Trading REDUCING", timeout=10)
    dash_duo.wait_for_contains_text("#banner-state", "FOMC at 2pm", timeout=5)
    wait_until(lambda: not ctx.broker.list_open_orders(), 5, "entry orders not cancelled by the pause")
    dash_duo.wait_for_contains_text("#trading-progress", "that would add exposure", timeout=10)
    dash_duo.find_element("#trading-resume-button").click()
    dash_duo.wait_for_contains_text("#banner-state", "Trading ACTIVE", timeout=10)
    assert state_of(ctx) is TradingState.ACTIVE
    dash_duo.wait_for_contains_text("#trading-audit", "control.resume", timeout=10)


def test_trd004_graceful_shutdown_dialog(dash_duo, embedded_app) -> None:  # type: ignore[no-untyped-def]
    app = embedded_app(autotrade=False)
    ctx = app.server.extensions[EXTENSION_KEY]
    browser_login(dash_duo, app, path="/trading")
    dash_duo.wait_for_contains_text("#trading-state", "ACTIVE", timeout=20)
    rest_orders(ctx, 10, "trd004")
    dash_duo.find_element("#trading-shutdown-button").click()
    dash_duo.wait_for_element("#trading-shutdown-confirm", timeout=5)
    time.sleep(0.3)  # the modal's fade-in
    dash_duo.find_element("#trading-shutdown-cancel").click()  # cancelling changes nothing
    time.sleep(0.5)
    assert state_of(ctx) is TradingState.ACTIVE
    dash_duo.find_element("#trading-shutdown-button").click()
    dash_duo.wait_for_element("#trading-shutdown-confirm", timeout=5)
    time.sleep(0.3)
    dash_duo.find_element("#trading-shutdown-confirm").click()
    dash_duo.wait_for_contains_text("#banner-state", "Trading STOPPED", timeout=15)
    assert not ctx.broker.list_open_orders()
    for step in ("stop_signals", "cancel_orders", "disconnect_broker", "save_state", "flush_logs", "stopped"):
        dash_duo.wait_for_element(f"[id='{{\"name\":\"{step}\",\"type\":\"trading-step\"}}'][data-status='done']",
                                  timeout=10)


def test_trd005_cancel_one_open_order_from_the_table(dash_duo, embedded_app) -> None:  # type: ignore[no-untyped-def]
    app = embedded_app(autotrade=False)
    ctx = app.server.extensions[EXTENSION_KEY]
    browser_login(dash_duo, app, path="/trading")
    dash_duo.wait_for_contains_text("#trading-state", "ACTIVE", timeout=20)
    rest_orders(ctx, 3, "trd005")  # the engine's account sync brings them into the orders table
    selector = "#trading-orders tr:not([hidden]) button[id*='trading-cancel-order']"  # filled slots only
    wait_until(lambda: len(dash_duo.find_elements(selector)) == 3, 20, "the 3 open orders never showed")
    dash_duo.find_elements(selector)[0].click()
    wait_until(lambda: len(ctx.broker.list_open_orders()) == 2, 10, "the order was not cancelled at the broker")
    wait_until(lambda: len(dash_duo.find_elements(selector)) == 2, 10, "the cancelled order is still listed")
    dash_duo.wait_for_contains_text("#trading-action-result", "cancel_order", timeout=5)
