"""Trading page messages that must describe the order that exists, on SQLite and PostgreSQL with the paper broker:
a ticket retried with the same nonce after the form was edited names the stored order (not the edited form), and
Close position with a resting partial exit names the market order's real quantity and the open order left working."""
from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from engine.clock import ManualClock
from engine.store.models import OrderRow
from engine.trading.brokers.base import OrderSide, OrderType
from engine.trading.gateway import OrderIntent, submit
from engine.trading.sync import sync_from_broker
from tests.planner_page_fixtures import trader_request
from tests.trading_control_fixtures import T0, open_position, seed_market


@pytest.fixture()
def request_ctx(any_db_url: str) -> Iterator[Any]:
    """A web app on the store (stocks AAA, BBB at 100), inside a request of the trader "tess"."""
    clock = ManualClock(T0)
    with trader_request(any_db_url, clock, lambda ctx: seed_market(ctx.store, clock)) as (_app, ctx):
        yield ctx


def _orders(ctx: Any) -> list[tuple[str, str, Decimal, str, Decimal | None]]:
    """Our manual orders (the fixture's position-opening order, synced from the broker, is not one)."""
    with ctx.store.read() as s:
        return [(o.symbol, o.side, o.qty, o.order_type, o.limit_price)
                for o in s.scalars(select(OrderRow).where(OrderRow.origin == "manual").order_by(OrderRow.id))]


def test_web_audit_ticket_retry_names_the_stored_order_not_the_edited_form(request_ctx: Any) -> None:
    from webapp.manual_orders import submit_manual_order

    sync_from_broker(request_ctx)
    ok, first = submit_manual_order("AAA", "buy", "100", "market", None, "nonce-edit")
    assert ok and first.startswith("Sent: buy 100 AAA at market"), first
    # the answer was lost; the trader edits Qty to 10 and presses Submit again with the page's old nonce
    ok, retry = submit_manual_order("AAA", "buy", "10", "market", None, "nonce-edit")
    assert ok, retry
    assert retry.startswith("Already submitted: buy 100 AAA at market is "), retry  # the one order: 100 shares
    assert "nothing new was sent" in retry
    assert "The form now says buy 10 AAA at market, which differs from the order sent; it was NOT sent" in retry
    assert _orders(request_ctx) == [("AAA", "buy", Decimal(100), "market", None)]  # one order, still 100

    # a limit order retried with a new price: the stored limit (101.50, stored with the column's scale) is named
    ok, first = submit_manual_order("BBB", "buy", "5", "limit", "101.50", "nonce-limit")
    assert ok, first
    ok, retry = submit_manual_order("BBB", "buy", "5", "limit", "102", "nonce-limit")
    assert retry.startswith("Already submitted: buy 5 BBB limit 101.5 is "), retry
    assert "The form now says buy 5 BBB limit 102" in retry
    # a plain double click (the form unchanged) says only that nothing new was sent
    ok, again = submit_manual_order("BBB", "buy", "5", "limit", "101.5", "nonce-limit")
    assert again.startswith("Already submitted: buy 5 BBB limit 101.5 is ") and "differs" not in again, again
    assert len(_orders(request_ctx)) == 2


def test_web_audit_close_names_the_quantity_sent_and_the_resting_exit(request_ctx: Any) -> None:
    from webapp.trading_close import close_position, close_target

    ctx = request_ctx
    open_position(ctx, "AAA", 100)
    sync_from_broker(ctx)
    tp = submit(ctx, OrderIntent("AAA", OrderSide.SELL, Decimal(30), OrderType.LIMIT, Decimal("101"),
                                 reason="take profit", idempotency_key="tp-1"), actor="web:tess", origin="manual")
    assert tp.accepted, tp
    with ctx.store.read() as s:
        tp_id = s.scalars(select(OrderRow.id).where(OrderRow.client_order_id == tp.client_order_id)).one()
    target = close_target("AAA")
    assert target is not None
    # hand: long 100, the resting sell 30 limit 101 leaves 100 - 30 = 70 for the market order
    assert target.describe() == "sell 70 AAA at market"
    assert target.preview.qty == Decimal(-70)
    text = target.dialog_text()
    assert text.startswith("Send sell 70 AAA at market through the order gateway"), text
    assert "position of 100 AAA (long)" in text and "sell 100" not in text
    assert f"the other 30 are left to the open orders, which stay working (sell 30 limit 101, order {tp_id})" in text
    assert "if they never fill, those 30 stay held" in text

    ok, message = close_position("AAA", "100", "n-close", str(target.preview.qty))
    assert ok and message.startswith("Sent: sell 70 AAA at market to close the position"), message
    assert "sell 100" not in message and "the other 30 are left to the open orders" in message
    market = [o for o in _orders(ctx) if o[3] == "market"]
    assert market == [("AAA", "sell", Decimal(70), "market", None)]


def test_web_audit_close_sends_nothing_when_the_open_orders_changed_since_the_dialog(request_ctx: Any) -> None:
    from webapp.control_actions import run_control
    from webapp.trading_close import close_position, close_target

    ctx = request_ctx
    open_position(ctx, "AAA", 100)
    sync_from_broker(ctx)
    tp = submit(ctx, OrderIntent("AAA", OrderSide.SELL, Decimal(30), OrderType.LIMIT, Decimal("101"),
                                 reason="take profit", idempotency_key="tp-2"), actor="web:tess", origin="manual")
    target = close_target("AAA")
    assert target is not None and target.describe() == "sell 70 AAA at market"  # hand: 100 - 30 resting
    assert target.preview.qty == Decimal(-70)
    with ctx.store.read() as s:
        tp_id = s.scalars(select(OrderRow.id).where(OrderRow.client_order_id == tp.client_order_id)).one()
    run_control("cancel_order", reason="test", order_id=tp_id)  # now a close would have to sell 100, not 70
    ok, message = close_position("AAA", "100", "n-close-2", str(target.preview.qty))
    assert not ok and message.startswith("Not sent: the open orders in AAA changed since the dialog opened"), message
    assert [o for o in _orders(ctx) if o[3] == "market"] == []
