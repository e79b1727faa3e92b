"""Close position (Trading page): one market order to flat through the real order gateway and paper broker,
on SQLite and PostgreSQL; refused when the position changed since the dialog, a double click is one order,
HALTED refuses it, REDUCING allows it (it only reduces)."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from engine.clock import ManualClock
from engine.store.models import AuditEvent, OrderRow
from engine.trading import state as ts
from engine.trading.sync import sync_from_broker
from tests.planner_page_fixtures import trader_request
from tests.trading_control_fixtures import T0, fill_next_bar, open_position, seed_market


@pytest.fixture()
def request_ctx(any_db_url):  # type: ignore[no-untyped-def]
    """A web app on the store, inside a request of the trader "tess" (as the login guard sets it up)."""
    clock = ManualClock(T0)
    with trader_request(any_db_url, clock, lambda ctx: seed_market(ctx.store, clock)) as (_app, ctx):
        yield ctx


def _orders(ctx):  # type: ignore[no-untyped-def]
    with ctx.store.read() as s:
        rows = s.scalars(select(OrderRow).where(OrderRow.origin == "manual").order_by(OrderRow.id))
        return [(o.symbol, o.side, o.qty, o.origin, o.status) for o in rows]


def test_close_sells_the_whole_long_and_buys_back_a_short(request_ctx) -> None:  # type: ignore[no-untyped-def]
    from webapp.trading_close import close_position, close_target

    open_position(request_ctx, "AAA", 30)
    open_position(request_ctx, "BBB", -7)
    sync_from_broker(request_ctx)
    target = close_target("AAA")
    assert target is not None and (target.symbol, target.qty, target.describe()) == ("AAA", Decimal(30),
                                                                                      "sell 30 AAA at market")
    assert close_target("BBB").describe() == "buy 7 BBB at market"  # type: ignore[union-attr]
    assert close_target("ZZZ") is None and close_target("<script>") is None and close_target(["AAA"]) is None

    ok, message = close_position("AAA", "30", "n-1")
    assert ok and message.startswith("Sent: sell 30 AAA at market"), message
    close_position("AAA", "30", "n-1")  # a double click on the confirm button: the same client order, not a second
    assert len(_orders(request_ctx)) == 1
    fill_next_bar(request_ctx, "AAA")
    sync_from_broker(request_ctx)
    assert close_target("AAA") is None  # flat now
    ok, message = close_position("BBB", "-7", "n-2")
    assert ok and message.startswith("Sent: buy 7 BBB at market"), message
    fill_next_bar(request_ctx, "BBB")
    sync_from_broker(request_ctx)
    assert close_target("BBB") is None
    assert [o[:4] for o in _orders(request_ctx)] == [("AAA", "sell", Decimal(30), "manual"),
                                                     ("BBB", "buy", Decimal(7), "manual")]
    with request_ctx.store.read() as s:
        actors = set(s.scalars(select(AuditEvent.actor).where(AuditEvent.action == "order.submit")))
    assert actors == {"web:tess"}


def test_close_refuses_a_changed_position_and_obeys_the_trading_state(request_ctx) -> None:  # type: ignore[no-untyped-def]
    from webapp.control_actions import run_control
    from webapp.trading_close import close_position

    open_position(request_ctx, "AAA", 30)
    sync_from_broker(request_ctx)
    ok, message = close_position("AAA", "20", "n-1")  # the dialog showed 20, the position is 30 now
    assert not ok and "changed since the dialog opened (was 20, now 30)" in message
    assert not close_position("AAA", "lots", "n-1")[0] and not close_position("AAA", "30", "")[0]
    assert _orders(request_ctx) == []

    with request_ctx.store.write() as s:
        ts.change(s, request_ctx.clock.now(), ts.TradingState.REDUCING, "test:reducing", "test")
    ok, message = close_position("AAA", "30", "n-2")
    assert ok, message  # reducing a position is what REDUCING allows

    run_control("halt", reason="stop")
    open_position(request_ctx, "BBB", 5)
    sync_from_broker(request_ctx)
    ok, message = close_position("BBB", "5", "n-3")
    assert not ok and message.startswith("Rejected: sell 5 BBB at market") and "HALTED" in message, message


def test_a_second_close_before_the_first_fills_sends_nothing(request_ctx) -> None:  # type: ignore[no-untyped-def]
    """Two Close dialogs (two nonces) confirmed before the first order's fill is synced: the stored position still
    reads 30, but the open sell 30 already closes it, so the second sends nothing and the position ends flat
    (it ended short 30 before: the second sell was judged against the position alone)."""
    from webapp.trading_close import close_position

    open_position(request_ctx, "AAA", 30)
    sync_from_broker(request_ctx)
    ok, message = close_position("AAA", "30", "n-1")
    assert ok, message
    ok, message = close_position("AAA", "30", "n-2")
    assert not ok and "the open orders in AAA already close the position of 30; nothing sent" in message, message
    assert [o[:3] for o in _orders(request_ctx)] == [("AAA", "sell", Decimal(30))]
    fill_next_bar(request_ctx, "AAA")
    sync_from_broker(request_ctx)
    assert {p.symbol: p.qty for p in request_ctx.broker.get_positions()} == {}
