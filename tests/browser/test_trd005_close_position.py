"""Trading page in the browser: Close on a position row asks first, then one market order to flat goes through
the order gateway (origin manual) and the page says so. The positions card is a slot table: a position opening or
closing elsewhere in the table leaves the Close button under the trader's pointer the same DOM node."""
from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import delete, select

from engine.store.models import OrderRow, PositionRow
from tests.auth_helpers import browser_login
from tests.browser.test_trd001_kill_switch_dialog import wait_until
from tests.planner_page_fixtures import scroll_click, seeded_app
from webapp import trading_queries

pytestmark = pytest.mark.slow  # about a minute on a loaded machine


def close_button(symbol: str) -> str:
    """XPath of the Close button in the shown row whose symbol link reads `symbol`."""
    return f"//tr[not(@hidden)][.//a[normalize-space(text())='{symbol}']]//button[contains(@id, 'trading-close-position')]"


def test_trd005_close_a_position_with_confirmation(dash_duo, test_settings) -> None:  # type: ignore[no-untyped-def]
    app, ctx = seeded_app(test_settings(engine_mode="none"), held=2)
    with ctx.store.read() as s:
        symbol, qty = s.execute(select(PositionRow.symbol, PositionRow.qty).order_by(PositionRow.symbol)).first()
    browser_login(dash_duo, app, role="trader", path="/trading")
    wait_until(lambda: dash_duo.driver.find_elements("xpath", close_button(symbol)), 30, "no Close button")
    scroll_click(dash_duo, dash_duo.driver.find_element("xpath", close_button(symbol)))
    dash_duo.wait_for_contains_text("#trading-close-body", f"sell {int(qty):,} {symbol} at market", timeout=15)
    with ctx.store.read() as s:
        assert s.scalars(select(OrderRow).where(OrderRow.origin == "manual")).first() is None  # asked, not sent
    dash_duo.find_element("#trading-close-confirm").click()
    dash_duo.wait_for_contains_text("#trading-close-result", f"Sent: sell {int(qty):,} {symbol} at market", timeout=30)
    with ctx.store.read() as s:
        orders = [(o.symbol, o.side, o.qty, o.actor) for o in s.scalars(select(OrderRow).where(OrderRow.origin == "manual"))]
    assert orders == [(symbol, "sell", qty, "web:trader")]
    ctx.store.dispose()


def test_trd006_close_button_survives_positions_coming_and_going(dash_duo, test_settings) -> None:  # type: ignore[no-untyped-def]
    """The button node of a held position is the same before and after another position opens and one closes:
    a marker set on the node survives, so a click in that instant lands on a live button."""
    app, ctx = seeded_app(test_settings(engine_mode="none"), held=2)
    with ctx.store.read() as s:
        first, second = s.scalars(select(PositionRow.symbol).order_by(PositionRow.symbol)).all()[:2]
    browser_login(dash_duo, app, role="trader", path="/trading")
    wait_until(lambda: dash_duo.driver.find_elements("xpath", close_button(second)), 30, "no Close button")
    button = dash_duo.driver.find_element("xpath", close_button(second))
    dash_duo.driver.execute_script("arguments[0].dataset.marker = 'kept';", button)
    with ctx.store.write() as s:  # one position closes, another opens: the row set changes
        s.execute(delete(PositionRow).where(PositionRow.symbol == first))
        s.add(PositionRow(symbol="ZZZ", qty=Decimal(3), avg_entry_price=Decimal("10.5"), market_price=Decimal(11),
                          unrealized_pnl=Decimal("1.5"), updated_at=datetime(2026, 1, 5, tzinfo=UTC)))
    with app.server.app_context():
        trading_queries.forget()
    wait_until(lambda: dash_duo.driver.find_elements("xpath", close_button("ZZZ")), 20, "ZZZ never showed")
    wait_until(lambda: not dash_duo.driver.find_elements("xpath", close_button(first)), 20, f"{first} still shown")
    same = dash_duo.driver.find_element("xpath", close_button(second))
    assert same.get_attribute("data-marker") == "kept"  # the same DOM node: never drawn again
    scroll_click(dash_duo, same)
    dash_duo.wait_for_contains_text("#trading-close-body", f" {second} at market", timeout=15)
    ctx.store.dispose()
