"""Trading page in the browser: Close on a position row asks first, then one market order to flat goes through
the order gateway (origin manual) and the page says so."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.store.models import OrderRow, PositionRow
from tests.auth_helpers import browser_login
from tests.planner_page_fixtures import scroll_click, seeded_app

pytestmark = pytest.mark.slow  # about a minute on a loaded machine

CLOSE = "[id='{\"index\":\"%s\",\"type\":\"trading-close-position\"}']"


def test_trd005_close_a_position_with_confirmation(dash_duo, test_settings) -> None:  # type: ignore[no-untyped-def]
    app, ctx = seeded_app(test_settings(engine_mode="none"), held=2)
    with ctx.store.read() as s:
        symbol, qty = s.execute(select(PositionRow.symbol, PositionRow.qty).order_by(PositionRow.symbol)).first()
    browser_login(dash_duo, app, role="trader", path="/trading")
    button = dash_duo.wait_for_element(CLOSE % symbol, timeout=30)
    scroll_click(dash_duo, button)
    dash_duo.wait_for_contains_text("#trading-close-body", f"sell {int(qty):,} {symbol} at market", timeout=15)
    with ctx.store.read() as s:
        assert s.scalars(select(OrderRow).where(OrderRow.origin == "manual")).first() is None  # asked, not sent
    dash_duo.find_element("#trading-close-confirm").click()
    dash_duo.wait_for_contains_text("#trading-close-result", f"Sent: sell {int(qty):,} {symbol} at market", timeout=30)
    with ctx.store.read() as s:
        orders = [(o.symbol, o.side, o.qty, o.actor) for o in s.scalars(select(OrderRow).where(OrderRow.origin == "manual"))]
    assert orders == [(symbol, "sell", qty, "web:trader")]
    ctx.store.dispose()
