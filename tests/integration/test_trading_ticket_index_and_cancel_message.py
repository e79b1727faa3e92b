"""Trading page, on SQLite and PostgreSQL: the manual ticket refuses the index at once (no order row, nothing at
the broker), and the cancel result names the order it cancelled (side, quantity, symbol, short client order id)."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from engine.clock import ManualClock
from engine.context import EngineContext
from engine.store.models import BarRow, Instrument, OrderRow
from engine.trading.control_types import ControlResult
from engine.trading.sync import sync_from_broker
from tests.planner_page_fixtures import trader_request
from tests.trading_control_fixtures import T0, place_resting_orders, seed_market


@pytest.fixture()
def request_ctx(any_db_url):
    """A web app on the store (stocks AAA, BBB and the index IDX), inside a request of the trader "tess"."""
    clock = ManualClock(T0)

    def seed(ctx: EngineContext) -> None:
        seed_market(ctx.store, clock)
        with ctx.store.write() as s:
            s.add(Instrument(symbol="IDX", kind="index", has_options=True, source="simulated"))
            s.add(BarRow(symbol="IDX", ts=T0, open=4000, high=4001, low=3999, close=4000, volume=1e6))

    with trader_request(any_db_url, clock, seed) as (_app, ctx):
        yield ctx


def _order_rows(ctx):
    with ctx.store.read() as s:
        return [(o.symbol, o.side, o.status) for o in s.scalars(select(OrderRow).order_by(OrderRow.id))]


def test_the_ticket_refuses_the_index_at_once(request_ctx) -> None:
    from webapp.manual_orders import submit_manual_order, suggest_ticket_size

    sync_from_broker(request_ctx)
    assert submit_manual_order(" idx ", "buy", "5", "market", None, "n-1") == (
        False, "Not sent: IDX is an index, not a tradable instrument.")
    assert submit_manual_order("IDX", "sell", "5", "limit", "4000", "n-2") == (
        False, "Not sent: IDX is an index, not a tradable instrument.")
    assert _order_rows(request_ctx) == []  # refused before the gateway: no rejected row, nothing at the broker
    assert request_ctx.broker.list_open_orders() == []
    assert suggest_ticket_size("IDX", "buy") == (None, "No size for buy IDX: IDX is an index, not a tradable "
                                                       "instrument.")
    ok, message = submit_manual_order("aaa", "buy", "5", "market", None, "n-3")  # a stock still goes through
    assert ok and message.startswith("Sent: buy 5 AAA at market"), message
    assert _order_rows(request_ctx) == [("AAA", "buy", "new")]


def test_a_cancel_names_the_order_it_cancelled(request_ctx) -> None:
    from pages.trading import _action_result
    from webapp.control_actions import run_control

    place_resting_orders(request_ctx, 2, prefix="rd-0123456789abcdef0123456789abcdef")  # gateway-like ids
    with request_ctx.store.read() as s:
        first = s.scalars(select(OrderRow).order_by(OrderRow.id)).first()
        assert first is not None
        order_id = first.id  # what the table's Cancel button carries
    result = run_control("cancel_order", reason="test", order_id=order_id)
    assert result.status == "done"
    alert = _action_result(result, order_id)
    assert alert.children == "cancel_order done: buy 1 AAA (order rd-01234567…) cancelled."
    assert alert.color == "success"
    assert len(request_ctx.broker.list_open_orders()) == 1

    again = run_control("cancel_order", reason="test", order_id=order_id)  # already cancelled at the broker
    assert again.status == "failed"
    alert = _action_result(again, order_id)
    assert alert.children == f"cancel_order finished with errors for buy 1 AAA (order rd-01234567…): {again.message}"
    assert "is canceled and cannot be canceled" in alert.children and alert.color == "danger"


def test_other_actions_keep_their_message(request_ctx) -> None:
    from pages.trading import _action_result
    from webapp.control_actions import run_control

    alert = _action_result(run_control("halt", reason="test"))
    assert alert.children.startswith("halt done. Trading is now") and "(order" not in alert.children


@pytest.mark.parametrize(("status", "message", "expected", "colour"), [
    ("done", "all steps done", "cancel_order done: sell 1,200 BBB (order rd-abcdef01…) cancelled.", "success"),
    ("failed", "cancel_order: refused by paper", "cancel_order finished with errors for sell 1,200 BBB "
                                                 "(order rd-abcdef01…): cancel_order: refused by paper", "danger"),
    ("refused", "cancel_order needs the trader role", "cancel_order refused for sell 1,200 BBB (order "
                                                      "rd-abcdef01…): cancel_order needs the trader role", "danger"),
    ("pending", "", "cancel_order of sell 1,200 BBB (order rd-abcdef01…) accepted (pending); its steps update "
                    "live on the Trading page.", "info"),
])
def test_cancel_message_words(request_ctx, status, message, expected, colour) -> None:
    from webapp.control_actions import cancel_message

    order = {"symbol": "BBB", "side": "sell", "qty": Decimal("1200.000000"),
             "client_order_id": "rd-abcdef0123456789abcdef0123456789"}
    result = ControlResult(5, "cancel_order", "web:tess", status, None, message)
    assert cancel_message(result, order, 9) == (expected, colour)


def test_order_words_for_short_ids_fractions_and_unknown_orders(request_ctx) -> None:
    from webapp.control_actions import order_words, short_order_id

    assert short_order_id("rest-0") == "rest-0"
    assert short_order_id("rd-0123456789abcdef") == "rd-01234567…"
    assert short_order_id("abcdefghijklmnopqrstuvwxyz") == "abcdefghijk…"
    assert order_words({"symbol": "AAA", "side": "buy", "qty": Decimal("2.50"), "client_order_id": "x-1"}, 3) == (
        "buy 2.5 AAA (order x-1)")
    assert order_words(None, 42) == "order 42"
    assert order_words(None, None) == "the order"
