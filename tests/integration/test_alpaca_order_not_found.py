"""A stored open order Alpaca keeps answering 404 for is closed, audited (audit alpaca_market_time, finding 6).

Real HTTP to the fake Alpaca server, a real store (SQLite and PostgreSQL). The engine's clock starts at the real now
because the fake stamps orders with the real time, as Alpaca does.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from engine.context import EngineContext
from engine.store.models import AuditEvent, OrderRow
from engine.trading.brokers.base import OrderSide, OrderType
from engine.trading.gateway import OrderIntent, submit
from engine.trading.order_gone import MIN_AGE, STRIKES
from engine.trading.orders import open_order_deltas, record_broker_order
from engine.trading.reconcile import reconcile
from engine.trading.sync import sync_from_broker
from tests.fake_alpaca import FakeAlpacaServer
from tests.fake_alpaca.book import FakeOrder
from tests.trading_control_fixtures import LOOSE, alpaca_fixtures

D = Decimal
LOOKUPS = "/v2/orders:by_client_order_id"

server, ctx = alpaca_fixtures()


def _sync(ctx: EngineContext, minutes: float) -> None:
    ctx.clock.advance(timedelta(minutes=minutes))
    sync_from_broker(ctx, LOOSE)


def _row(ctx: EngineContext, coid: str) -> OrderRow:
    with ctx.store.read() as s:
        row = s.scalars(select(OrderRow).where(OrderRow.client_order_id == coid)).one()
        s.expunge(row)
        return row


def _gone_gtc(ctx: EngineContext, server: FakeAlpacaServer, key: str) -> tuple[str, FakeOrder]:
    """A GTC buy 50 AAA at 60 resting for 8 days (past the sync's history window), then purged at Alpaca."""
    out = submit(ctx, OrderIntent("AAA", OrderSide.BUY, D(50), OrderType.LIMIT, D(60), reason="test",
                                  idempotency_key=key, time_in_force="gtc"), "planner", "planner", LOOSE)
    assert out.accepted, out.reason
    [order] = server.book.open_orders()
    order.created_at = order.updated_at = datetime.now(UTC) - timedelta(days=8)
    _sync(ctx, 1 / 6)
    with server.book.lock:
        del server.book.orders[order.id]  # Alpaca no longer knows it: GET by client order id answers 404
    return out.client_order_id, order


def test_an_order_alpaca_keeps_answering_404_for_is_closed_and_audited(ctx: EngineContext,
                                                                       server: FakeAlpacaServer) -> None:
    reconcile(ctx, LOOSE, retry_delay_s=0)  # the baseline
    coid, _ = _gone_gtc(ctx, server, "p1")
    before = server.hits_for("GET", LOOKUPS)
    for _ in range(STRIKES - 1):
        _sync(ctx, 30)
    assert (_row(ctx, coid).status, server.hits_for("GET", LOOKUPS) - before) == ("new", STRIKES - 1)
    _sync(ctx, 30)  # the third 404, an hour after the first, on an order 90 minutes old
    row = _row(ctx, coid)
    assert (row.status, row.filled_qty) == ("canceled", D(0))
    assert (row.reject_reason or "").startswith("not found at the broker: 3 lookups by client order id")
    with ctx.store.read() as s:
        assert open_order_deltas(s) == {}
        [event] = s.scalars(select(AuditEvent).where(AuditEvent.action == "order.not_found")).all()
        assert (event.actor, event.target, event.outcome) == ("system:sync", "AAA", "canceled")
        assert (event.details["client_order_id"], event.details["open_qty"], event.details["lookups"]) == (coid, "50", 3)
    _sync(ctx, 30)
    assert server.hits_for("GET", LOOKUPS) - before == STRIKES  # closed: no more lookups
    report = reconcile(ctx, LOOSE, retry_delay_s=0)
    assert report.ok, report.differences


def test_a_burst_of_404s_on_a_young_order_does_not_close_it(ctx: EngineContext, server: FakeAlpacaServer) -> None:
    coid, _ = _gone_gtc(ctx, server, "young")
    for _ in range(STRIKES + 2):  # five 404s 10 s apart: a burst, on an order under MIN_AGE old
        _sync(ctx, 1 / 6)
    assert _row(ctx, coid).status == "new"
    _sync(ctx, MIN_AGE.total_seconds() / 60)  # old enough now, and the 404s span minutes
    assert _row(ctx, coid).status == "canceled"


def test_reconcile_404s_count_and_it_stops_reporting_the_order(ctx: EngineContext, server: FakeAlpacaServer) -> None:
    reconcile(ctx, LOOSE, retry_delay_s=0)
    coid, _ = _gone_gtc(ctx, server, "rec")
    ctx.clock.advance(timedelta(minutes=20))
    first = reconcile(ctx, LOOSE, retry_delay_s=0)  # its syncs and its own lookups: 404s inside one minute
    assert [(d.kind, d.key, d.value) for d in first.differences] == [("order_missing_at_broker", coid, D(5000))]
    ctx.clock.advance(timedelta(minutes=5))
    second = reconcile(ctx, LOOSE, retry_delay_s=0)  # strikes spread over 5 minutes now: closed before it reports
    assert second.ok, second.differences
    assert _row(ctx, coid).status == "canceled"


def test_the_broker_seeing_the_order_again_replaces_the_guess(ctx: EngineContext, server: FakeAlpacaServer) -> None:
    coid, order = _gone_gtc(ctx, server, "back")
    for _ in range(STRIKES):
        _sync(ctx, 30)
    assert _row(ctx, coid).status == "canceled"
    with server.book.lock:  # it was there after all, and fills
        server.book.orders[order.id] = order
    server.book.fill(order.id, D(50), D(60))
    seen = ctx.broker.get_order_by_client_id(coid)  # any later read of it (a lookup, the history, a trade update)
    assert seen is not None and record_broker_order(ctx, seen)
    row = _row(ctx, coid)
    assert (row.status, row.filled_qty, row.reject_reason) == ("filled", D(50), None)
