"""Trading page in the browser: Close on a long with a working buy limit says, before Confirm, that it cancels the
buy (it would add to the position) and sells the whole position; Confirm cancels it in the trader's name and sends
that sell, and the result says both. Before, the dialog offered to sell the position plus the buy and left the buy
working (short by the buy's size until it filled)."""
from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

import pytest
from sqlalchemy import select

from engine.store.models import OrderRow, PositionRow
from engine.trading.brokers.base import OrderSide, OrderType
from engine.trading.gateway import OrderIntent, submit
from tests.auth_helpers import browser_login
from tests.browser.test_trd001_kill_switch_dialog import wait_until
from tests.browser.test_trd005_close_position import close_button
from tests.planner_page_fixtures import scroll_click, seeded_app

pytestmark = pytest.mark.slow  # about a minute on a loaded machine


def test_trd007_close_cancels_a_working_buy_then_sells_the_position(dash_duo, test_settings) -> None:  # type: ignore[no-untyped-def]
    app, ctx = seeded_app(test_settings(engine_mode="none"), held=1)
    with ctx.store.read() as s:
        symbol, qty, price = s.execute(select(PositionRow.symbol, PositionRow.qty, PositionRow.market_price)).first()
    limit = (price * Decimal("0.98")).quantize(Decimal("0.01"), ROUND_DOWN)  # below the market, inside the collar
    buy = submit(ctx, OrderIntent(symbol, OrderSide.BUY, Decimal(5), OrderType.LIMIT, limit, reason="add",
                                  idempotency_key="add-1"), actor="web:trader", origin="manual")
    assert buy.accepted, buy
    with ctx.store.read() as s:
        buy_id = s.scalars(select(OrderRow.id).where(OrderRow.client_order_id == buy.client_order_id)).one()
    shown = f"{limit.normalize():f}"
    browser_login(dash_duo, app, role="trader", path="/trading")
    wait_until(lambda: dash_duo.driver.find_elements("xpath", close_button(symbol)), 30, "no Close button")
    scroll_click(dash_duo, dash_duo.driver.find_element("xpath", close_button(symbol)))
    dash_duo.wait_for_contains_text(
        "#trading-close-body", f"Cancel buy 5 limit {shown} (order {buy_id}) (it would add to the position) and "
        f"send sell {int(qty):,} {symbol} at market", timeout=15)
    dash_duo.find_element("#trading-close-confirm").click()
    dash_duo.wait_for_contains_text(
        "#trading-close-result", f"Canceled buy 5 limit {shown} (order {buy_id}), then sent: sell {int(qty):,} "
        f"{symbol} at market", timeout=30)
    with ctx.store.read() as s:
        orders = [(o.side, o.qty, o.order_type, o.status, o.actor)
                  for o in s.scalars(select(OrderRow).where(OrderRow.origin == "manual").order_by(OrderRow.id))]
    assert orders[0][:4] == ("buy", Decimal(5), "limit", "canceled")
    assert [o[:3] for o in orders[1:]] == [("sell", qty, "market")] and orders[1][4] == "web:trader"
    ctx.store.dispose()
