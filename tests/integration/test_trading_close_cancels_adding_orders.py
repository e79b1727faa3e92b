"""Close position makes the position flat, on SQLite and PostgreSQL with the paper broker: open orders that would
add to it (a buy for a long, a sell for a short) are canceled through the audited cancel_order action in the
trader's name, then one market order for what the reducing open orders leave (those stay working). Before, long
100 with a working buy 50 sent sell 150 and left the buy working: short 50 until the buy filled, if ever. A cancel
that fails (the order filled meanwhile) sends nothing. Figures are by hand; the bars trade at 100 (low 99, high
101), so a buy limit 96 and a sell limit 104 keep working (inside the 5% price collar)."""
from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from engine.clock import ManualClock
from engine.store.models import AuditEvent, OrderRow
from engine.trading.brokers.base import OrderSide, OrderType
from engine.trading.gateway import OrderIntent, submit
from engine.trading.sync import sync_from_broker
from tests.planner_page_fixtures import trader_request
from tests.trading_control_fixtures import T0, fill_next_bar, open_position, seed_market


@pytest.fixture()
def request_ctx(any_db_url: str) -> Iterator[Any]:
    """A web app on the store (stocks AAA, BBB at 100), inside a request of the trader "tess"."""
    clock = ManualClock(T0)
    with trader_request(any_db_url, clock, lambda ctx: seed_market(ctx.store, clock)) as (_app, ctx):
        yield ctx


def _limit(ctx: Any, symbol: str, side: OrderSide, qty: int, price: str, key: str) -> int:
    """A working limit order through the gateway (as the ticket places it); its id in our orders table."""
    result = submit(ctx, OrderIntent(symbol, side, Decimal(qty), OrderType.LIMIT, Decimal(price), reason="test",
                                     idempotency_key=key), actor="web:tess", origin="manual")
    assert result.accepted, result
    with ctx.store.read() as s:
        return int(s.scalars(select(OrderRow.id).where(OrderRow.client_order_id == result.client_order_id)).one())


def _status(ctx: Any, order_id: int) -> str:
    with ctx.store.read() as s:
        return str(s.get(OrderRow, order_id).status)  # type: ignore[union-attr]


def _market_orders(ctx: Any) -> list[tuple[str, str, Decimal]]:
    with ctx.store.read() as s:
        return [(o.symbol, o.side, o.qty) for o in s.scalars(select(OrderRow).where(
            OrderRow.origin == "manual", OrderRow.order_type == "market").order_by(OrderRow.id))]


def _broker_open(ctx: Any) -> list[tuple[str, str, Decimal]]:
    return sorted((o.symbol, o.side.value, o.qty) for o in ctx.broker.list_open_orders())


def _confirm(target: Any, nonce: str) -> tuple[bool, str]:
    """Confirm as the page does: the dialog's quantity, market order and orders to cancel."""
    from webapp.trading_close import close_position  # local import: needs the app's request context

    return close_position(target.symbol, str(target.qty), nonce, str(target.preview.qty), target.cancel_ids())


def test_close_cancels_a_working_buy_and_sells_the_long_to_flat(request_ctx: Any) -> None:
    from webapp.trading_close import close_target

    ctx = request_ctx
    open_position(ctx, "AAA", 100)
    sync_from_broker(ctx)
    buy = _limit(ctx, "AAA", OrderSide.BUY, 50, "96", "add-1")
    target = close_target("AAA")
    # hand: long 100, the buy 50 adds (canceled), no reducing order: the market order sells all 100 (not 150)
    assert target is not None and target.describe() == "sell 100 AAA at market"
    assert target.preview.qty == Decimal(-100) and target.cancel_ids() == [buy]
    text = target.dialog_text()
    assert text.startswith(f"Cancel buy 50 limit 96 (order {buy}) (it would add to the position) and send sell 100 "
                           "AAA at market through the order gateway"), text
    assert "position of 100 AAA (long)" in text and "If a cancel fails" in text and "150" not in text

    ok, message = _confirm(target, "n-1")
    assert ok, message
    assert message.startswith(f"Canceled buy 50 limit 96 (order {buy}), then sent: sell 100 AAA at market"), message
    assert _status(ctx, buy) == "canceled" and _broker_open(ctx) == [("AAA", "sell", Decimal(100))]
    assert _market_orders(ctx) == [("AAA", "sell", Decimal(100))]
    fill_next_bar(ctx, "AAA")
    sync_from_broker(ctx)
    assert {p.symbol: p.qty for p in ctx.broker.get_positions()} == {} and _broker_open(ctx) == []
    assert close_target("AAA") is None
    with ctx.store.read() as s:  # the cancel and the order, each in the trader's name
        rows = [(a.actor, a.action, a.target) for a in s.scalars(select(AuditEvent).where(
            AuditEvent.action.in_(("control.cancel_order", "order.submit"))).order_by(AuditEvent.id))]
    assert ("web:tess", "control.cancel_order", str(buy)) in rows
    assert [r[0] for r in rows if r[1] == "order.submit"] == ["web:tess", "web:tess"]  # the buy 50, the sell 100


def test_close_leaves_a_reducing_order_working_and_mirrors_for_a_short(request_ctx: Any) -> None:
    from webapp.trading_close import close_target

    ctx = request_ctx
    open_position(ctx, "AAA", 100)
    open_position(ctx, "BBB", -100)
    sync_from_broker(ctx)
    sell = _limit(ctx, "AAA", OrderSide.SELL, 30, "104", "tp-a")
    target = close_target("AAA")
    assert target is not None and target.cancel_ids() == []
    assert target.describe() == "sell 70 AAA at market"  # hand: 100 - 30 resting
    ok, message = _confirm(target, "n-a")
    assert ok and message.startswith("Sent: sell 70 AAA at market"), message
    assert _status(ctx, sell) == "new"

    # short 100 BBB: the sell 50 adds (canceled), the buy 30 reduces (left working): buy 100 - 30 = 70
    adds = _limit(ctx, "BBB", OrderSide.SELL, 50, "104", "add-b")
    cover = _limit(ctx, "BBB", OrderSide.BUY, 30, "96", "tp-b")
    target = close_target("BBB")
    assert target is not None and target.cancel_ids() == [adds] and target.describe() == "buy 70 BBB at market"
    assert target.dialog_text().startswith(f"Cancel sell 50 limit 104 (order {adds}) (it would add to the position) "
                                           "and send buy 70 BBB at market"), target.dialog_text()
    assert f"(buy 30 limit 96, order {cover})" in target.dialog_text()
    ok, message = _confirm(target, "n-b")
    assert ok and message.startswith(f"Canceled sell 50 limit 104 (order {adds}), then sent: buy 70 BBB"), message
    assert (_status(ctx, adds), _status(ctx, cover)) == ("canceled", "new")
    fill_next_bar(ctx, "AAA")
    fill_next_bar(ctx, "BBB")
    sync_from_broker(ctx)
    # what is left is exactly what the still-working reducing orders close
    assert {p.symbol: p.qty for p in ctx.broker.get_positions()} == {"AAA": Decimal(30), "BBB": Decimal(-30)}
    assert _broker_open(ctx) == [("AAA", "sell", Decimal(30)), ("BBB", "buy", Decimal(30))]
    assert _market_orders(ctx) == [("AAA", "sell", Decimal(70)), ("BBB", "buy", Decimal(70))]


def test_a_cancel_refused_because_the_order_filled_sends_nothing(request_ctx: Any) -> None:
    from webapp.trading_close import close_target

    ctx = request_ctx
    open_position(ctx, "AAA", 100)
    sync_from_broker(ctx)
    buy = _limit(ctx, "AAA", OrderSide.BUY, 50, "96", "add-2")
    target = close_target("AAA")  # the dialog: cancel the buy 50, sell 100
    assert target is not None and target.describe() == "sell 100 AAA at market"
    fill_next_bar(ctx, "AAA", price=80)  # the buy fills at the broker before Confirm; not synced yet
    ok, message = _confirm(target, "n-2")
    assert not ok and message.startswith(f"Not sent: could not cancel buy 50 limit 96 (order {buy}): "), message
    assert "cannot be canceled" in message and "nothing sent" in message and "press Close again" in message
    assert _market_orders(ctx) == []  # no sell 100 (which would have left 50 held without the trader knowing)
    with ctx.store.read() as s:
        failed = s.scalars(select(AuditEvent).where(AuditEvent.action == "control.cancel_order.result")).all()
    assert [(a.actor, a.outcome) for a in failed] == [("web:tess", "failed")]
    sync_from_broker(ctx)
    again = close_target("AAA")  # pressed again: long 150 now, nothing to cancel
    assert again is not None and again.describe() == "sell 150 AAA at market" and again.cancel_ids() == []


def test_nothing_left_to_send_cancels_the_adding_order_only(request_ctx: Any) -> None:
    from webapp.trading_close import close_position, close_target

    ctx = request_ctx
    open_position(ctx, "AAA", 100)
    sync_from_broker(ctx)
    sell = _limit(ctx, "AAA", OrderSide.SELL, 100, "104", "tp-3")
    buy = _limit(ctx, "AAA", OrderSide.BUY, 20, "96", "add-3")
    target = close_target("AAA")
    assert target is not None and not target.preview.sends and target.cancel_ids() == [buy]
    text = target.dialog_text()
    assert text == (f"Cancel buy 20 limit 96 (order {buy}) (it would add to the position)? Nothing else would be "
                    f"sent: the open orders in AAA already close the position of 100 AAA (long) "
                    f"(sell 100 limit 104, order {sell})."), text
    # a forged list of orders to cancel is refused before anything happens
    for forged in ("12", [True], [1.5], [[buy]]):
        assert close_position("AAA", "100", "n-f", str(target.preview.qty), forged) == (
            False, "Not sent: the dialog's quantity is malformed; press Close again.")
    # the dialog showed no cancel, but the buy is there now: nothing is done
    ok, message = close_position("AAA", "100", "n-s", str(target.preview.qty), [])
    assert not ok and "changed since the dialog opened" in message and _status(ctx, buy) == "new", message
    ok, message = _confirm(target, "n-3")
    assert ok and message.startswith(f"Canceled buy 20 limit 96 (order {buy}); the open orders in AAA already close "
                                     "the position of 100"), message
    assert "nothing else sent" in message
    assert (_status(ctx, buy), _status(ctx, sell)) == ("canceled", "new") and _market_orders(ctx) == []
    assert _broker_open(ctx) == [("AAA", "sell", Decimal(100))]
