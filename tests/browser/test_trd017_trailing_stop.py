"""Setting a trailing stop on the Trading page: a position from the paper broker, the exits form, the live
stops table with the computed level, a refused value named in the message, and removing the stop."""
from __future__ import annotations

from decimal import Decimal

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.keys import Keys
from sqlalchemy import select

from engine.store.models import AuditEvent, Instrument, PositionRow, ProtectiveStop
from engine.trading.brokers.base import OrderRequest, OrderSide
from tests.auth_helpers import browser_login
from tests.browser.test_trd001_kill_switch_dialog import rest_orders, wait_until
from tests.planner_page_fixtures import scroll_click
from webapp.context import EXTENSION_KEY


def held_symbol(ctx) -> str:  # type: ignore[no-untyped-def]
    """Buy 10 shares of the first stock at the paper broker; the embedded engine fills and syncs them."""
    rest_orders(ctx, 0, "trd017")  # waits for market data
    with ctx.store.read() as s:
        symbol = s.scalars(select(Instrument.symbol).where(Instrument.kind == "stock")).first()
    ctx.broker.submit_order(OrderRequest("trd017-buy", symbol, OrderSide.BUY, Decimal(10)))  # straight to the broker

    def held() -> bool:
        with ctx.store.read() as s:
            row = s.get(PositionRow, symbol)
            return row is not None and row.qty == 10

    order = lambda: ctx.broker.get_order_by_client_id("trd017-buy")  # noqa: E731
    wait_until(lambda: order().status.value == "filled", 60, f"the buy never filled at the paper broker: {order()}")
    wait_until(held, 60, "the position never reached the store (the engine's account sync)")
    return symbol


def fill(dash_duo, selector: str, value: str) -> None:  # type: ignore[no-untyped-def]
    box = dash_duo.find_element(selector)
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.DELETE)
    if value:
        box.send_keys(value)


def test_trd017_set_a_trailing_stop(dash_duo, embedded_app) -> None:  # type: ignore[no-untyped-def]
    app = embedded_app(autotrade=False)
    ctx = app.server.extensions[EXTENSION_KEY]
    browser_login(dash_duo, app)
    symbol = held_symbol(ctx)
    dash_duo.driver.get(dash_duo.server_url + "/trading")
    dash_duo.wait_for_contains_text("#trading-state", "ACTIVE", timeout=20)
    dash_duo.wait_for_contains_text("#trading-stops", "No protective stops", timeout=20)

    fill(dash_duo, "#trading-stop-symbol", symbol.lower())
    fill(dash_duo, "#trading-stop-trail", "150")  # out of range: refused, the field named
    scroll_click(dash_duo, dash_duo.find_element("#trading-stop-submit"))  # instant: Bootstrap scrolls smoothly
    dash_duo.wait_for_contains_text("#trading-stop-result", "trailing % must be above 0 and below 100", timeout=10)
    with ctx.store.read() as s:
        assert s.scalars(select(ProtectiveStop)).first() is None

    fill(dash_duo, "#trading-stop-trail", "8")
    scroll_click(dash_duo, dash_duo.find_element("#trading-stop-submit"))
    dash_duo.wait_for_contains_text("#trading-stop-result", f"Exits set for {symbol}", timeout=10)
    with ctx.store.read() as s:
        stop = s.scalars(select(ProtectiveStop).where(ProtectiveStop.status == "active")).one()
        audit = s.scalars(select(AuditEvent).where(AuditEvent.action == "stop.set")).one()
    assert (stop.symbol, stop.trail_pct, stop.direction, stop.source) == (symbol, Decimal(8), 1, "manual")
    assert audit.actor.startswith("web:") and audit.target == symbol
    # the table shows the level the engine checks: 8% under the best price seen (it may move with the market)
    level_selector = f"[id='{{\"index\":\"{symbol}\",\"type\":\"trading-stop-level\"}}']"

    def shown_level_matches() -> bool:
        with ctx.store.read() as s:
            best = s.scalars(select(ProtectiveStop.extreme_price).where(ProtectiveStop.status == "active")).first()
        elements = dash_duo.find_elements(level_selector)
        if best is None or not elements:
            return False
        expected = f"{best * Decimal('0.92'):,.2f}"
        try:
            return elements[0].text.replace("$", "").strip() == expected
        except StaleElementReferenceException:  # the table was redrawn (the mark moved): look again
            return False

    wait_until(shown_level_matches, 20, "the stops table never showed the trailing level")
    dash_duo.wait_for_contains_text("#trading-stops", "8.00%", timeout=5)

    def click_remove() -> bool:
        # found and clicked in one script: the table is redrawn as the market moves the level, and a button
        # found in one WebDriver call was often stale (or covered while scrolling) by the next one
        return bool(dash_duo.driver.execute_script(
            "const b = document.querySelector(\"#trading-stops button[id*='trading-remove-stop']\");"
            "if (!b) { return false; } b.click(); return true;"))

    wait_until(click_remove, 10, "the Remove button could not be clicked")
    dash_duo.wait_for_contains_text("#trading-parent-result", f"Exits removed for {symbol}", timeout=10)
    dash_duo.wait_for_contains_text("#trading-stops", "No protective stops", timeout=10)
    with ctx.store.read() as s:
        assert s.scalars(select(ProtectiveStop.status)).all() == ["canceled"]
