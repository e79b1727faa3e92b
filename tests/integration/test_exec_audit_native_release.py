"""A manual exit that only reduces a position keeps the rest protected at the broker (Alpaca over real HTTP to the
fake server, SQLite and PostgreSQL), with no engine tick in between: the engine may be down.

Hand numbers: long 100 at 100, stop-loss 5% -> a sell stop for 100 at 100 * 0.95 = 95.00. A ticket sells 30: the
stop for 100 is canceled and a stop for 100 - 30 = 70 at 95.00 replaces it (70 + 30 = 100: never more than the
position). The price falls to 80: the stop fires (at the 80 gap price) and the position is flat.
When the broker refuses the sell of 30, the position is still 100: the stop goes back for all 100 at 95.00.
"""
from __future__ import annotations

from decimal import Decimal as D

from sqlalchemy import select

from engine.execution.protect import attach_stop
from engine.execution.stops import StopSpec
from engine.store.models import AuditEvent, OrderRow
from engine.trading.brokers.base import OrderSide
from engine.trading.gateway import OrderIntent, submit
from engine.trading.sync import sync_from_broker
from tests.integration.test_alpaca_native_stops import SYM, ctx, hold, natives, server, tick  # noqa: F401


def _sell(c, qty: int):  # type: ignore[no-untyped-def]
    return submit(c, OrderIntent(SYM, OrderSide.SELL, D(qty), reason="manual ticket", idempotency_key=f"ticket-{qty}"),
                  actor="web:alice", origin="manual")


def _audits(c) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    with c.store.read() as s:
        return [(a.actor, a.action) for a in s.scalars(select(AuditEvent).where(AuditEvent.target == SYM)
                                                      .order_by(AuditEvent.id))]


def test_a_partial_manual_sell_leaves_the_rest_under_a_broker_stop(ctx, server) -> None:  # noqa: F811
    hold(ctx, server, "100", "100", "100")
    attach_stop(ctx, SYM, StopSpec(stop_loss_pct=D(5)), "alice")
    tick(ctx)  # the engine's last tick: it places the native stop; no tick after this
    [first] = natives(server)
    assert (first.side, first.qty, first.stop_price) == ("sell", D(100), D("95.00"))
    before = len(_audits(ctx))
    res = _sell(ctx, 30)
    assert res.accepted
    assert first.status == "canceled"
    [rest] = natives(server)
    assert (rest.order_type, rest.side, rest.qty, rest.stop_price) == ("stop", "sell", D(70), D("95.00"))
    assert server.book.positions[SYM][0] == D(70)
    assert rest.qty + D(30) == D(100)  # the stop and the exit together: the whole position, never more
    new = _audits(ctx)[before:]
    assert ("web:alice", "stop.native_cancel") in new and ("web:alice", "stop.native") in new
    with ctx.store.read() as s:
        row = s.scalars(select(OrderRow).where(OrderRow.client_order_id == rest.client_order_id)).one()
    assert (row.origin, row.actor, row.qty) == ("stop", "web:alice", D(70))
    server.book.move_price(SYM, D(80))  # far through 95
    assert rest.status == "filled" and rest.filled_avg_price == D(80)
    assert server.book.positions.get(SYM) is None


def test_the_engine_keeps_the_replacement_and_a_full_sell_places_none(ctx, server) -> None:  # noqa: F811
    hold(ctx, server, "100", "100", "100")
    attach_stop(ctx, SYM, StopSpec(stop_loss_pct=D(5)), "alice")
    tick(ctx)
    assert _sell(ctx, 30).accepted
    [rest] = natives(server)
    sync_from_broker(ctx)  # the engine comes back: its account sync first (the store still says 100 until then)
    tick(ctx)  # 70 held, a stop for 70 rests: nothing to change
    assert natives(server) == [rest] and rest.status == "new"
    assert _sell(ctx, 70).accepted  # closes the rest: its stop is canceled, nothing is left to protect
    assert rest.status == "canceled" and natives(server) == []
    assert server.book.positions.get(SYM) is None


def test_a_refused_partial_sell_leaves_the_whole_position_under_a_broker_stop(ctx, server) -> None:  # noqa: F811
    hold(ctx, server, "100", "100", "100")
    attach_stop(ctx, SYM, StopSpec(stop_loss_pct=D(5)), "alice")
    tick(ctx)  # no tick after this: the engine may be down
    [first] = natives(server)
    server.inject("POST", "/v2/orders", "error", status=403,  # the next order POST: the ticket's sell
                  body={"code": 40310000, "message": "insufficient qty available for order"})
    res = _sell(ctx, 30)
    assert not res.accepted and "insufficient qty" in (res.reason or "")
    assert first.status == "canceled"
    [again] = natives(server)  # placed after the broker's answer, for the 100 still held
    assert (again.order_type, again.side, again.qty, again.stop_price) == ("stop", "sell", D(100), D("95.00"))
    assert server.book.positions[SYM][0] == D(100)
    assert ("web:alice", "stop.native") in _audits(ctx)
    server.book.move_price(SYM, D(80))
    assert again.status == "filled" and server.book.positions.get(SYM) is None
