"""A new store on the same Alpaca account derives client order ids an earlier store already used (keys are built
on database ids that start again at 1). Since installation ids (engine/store/installation.py) that happens only
between two stores older than them (installation id "", legacy ids), made so here; the backstop: the old order
must never be reported as the new intent's result: the intent is refused, naming the id clash, and nothing is
placed. Real HTTP to the fake Alpaca on 127.0.0.1; the
stores on SQLite and PostgreSQL.
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.context import EngineContext
from engine.store.installation import seed_installation_id
from engine.store.models import AuditEvent, OrderRow
from engine.trading import gateway
from engine.trading.brokers.alpaca import AlpacaBroker
from engine.trading.brokers.base import OrderRejected, OrderRequest, OrderSide, OrderStatus
from engine.trading.intent import OrderIntent
from tests.fake_alpaca import FakeAlpacaServer
from tests.trading_control_fixtures import alpaca_context

KEY = "parent-1-1"  # parent 1's first child: the same key in every new store
BUY5 = OrderIntent("AAA", OrderSide.BUY, Decimal(5), idempotency_key=KEY)
COID = gateway.client_order_id_for("execution", KEY, "AAA", OrderSide.BUY)


@pytest.fixture
def server() -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer() as srv:
        srv.book.prices["AAA"] = Decimal(100)
        yield srv


def _age(server: FakeAlpacaServer, coid: str, by: timedelta) -> str:
    """Move the fake's order with `coid` back in time by `by` (as if placed then); its Alpaca id."""
    (order,) = server.book.orders_for(coid)
    order.created_at -= by
    order.updated_at -= by
    if order.filled_at is not None:
        order.filled_at -= by
    for act in server.book.activities:  # its fills too (sync reads orders filled since its start from them)
        if act["order_id"] == order.id:
            at = datetime.fromisoformat(act["transaction_time"].replace("Z", "+00:00")) - by
            act["transaction_time"] = at.isoformat().replace("+00:00", "Z")
            act["id"] = f"{at:%Y%m%d%H%M%S%f}::{act['id'].split('::', 1)[1]}"
    return order.id


def _rows(ctx: EngineContext, coid: str) -> list[OrderRow]:
    with ctx.store.read() as s:
        return list(s.scalars(select(OrderRow).where(OrderRow.client_order_id == coid)))


def test_an_order_imported_from_an_earlier_store_is_not_the_new_intents_fill(
        tmp_path: Path, any_db_url: str, server: FakeAlpacaServer) -> None:
    (tmp_path / "one").mkdir()
    with alpaca_context(tmp_path / "one", f"sqlite:///{tmp_path / 'one' / 'old.db'}", server) as old:
        seed_installation_id(old.store, "")  # two legacy stores
        first = gateway.submit(old, BUY5, "system:exec", "execution")
    assert (first.status, first.client_order_id) == (OrderStatus.FILLED, COID)
    server.book.prices["AAA"] = Decimal(120)  # later, another price
    with alpaca_context(tmp_path, any_db_url, server) as new:  # its first sync imports the old order
        seed_installation_id(new.store, "")
        (imported,) = _rows(new, COID)
        assert imported.origin == "external" and imported.filled_qty == 5
        again = gateway.submit(new, BUY5, "system:exec", "execution")
        assert (again.status, again.accepted, again.duplicate, again.check) == (
            OrderStatus.REJECTED, False, False, "client_order_id")
        assert again.broker_order_id is None
        assert again.reason is not None and COID in again.reason and "did not send" in again.reason
        assert first.broker_order_id is not None and first.broker_order_id in again.reason  # the holder is named
        assert len(server.book.orders_for(COID)) == 1 and server.book.positions["AAA"][0] == 5  # nothing placed
        assert [(r.origin, r.filled_qty) for r in _rows(new, COID)] == [("external", 5)]  # the old row untouched
        with new.store.read() as s:
            audits = [e.details for e in s.scalars(select(AuditEvent).where(AuditEvent.action == "order.rejected"))]
        assert [(d["client_order_id"], d["check"]) for d in audits] == [(COID, "client_order_id")]
        # the retry refuses again (the intent's id does not change), and the store's own orders still dedupe
        assert gateway.submit(new, BUY5, "system:exec", "execution").check == "client_order_id"
        other = OrderIntent("AAA", OrderSide.BUY, Decimal(5), idempotency_key="parent-2-1")
        placed = gateway.submit(new, other, "system:exec", "execution")
        assert placed.status is OrderStatus.FILLED and not placed.duplicate
        assert gateway.submit(new, other, "system:exec", "execution").duplicate
        assert server.book.positions["AAA"][0] == 10  # 5 old + 5 new, bought once
        assert _rows(new, placed.client_order_id)[0].filled_avg_price == 120


def test_an_older_order_alpaca_holds_under_the_id_is_refused_not_reported_filled(
        tmp_path: Path, any_db_url: str, server: FakeAlpacaServer) -> None:
    """60 days old: past the sync's look-back, so no store row shows it; Alpaca's 422 "must be unique" leads to
    a lookup that finds it."""
    broker = AlpacaBroker(server.key_id, server.secret_key, url_override=server.url, timeout_s=1.0)
    broker.submit_order(OrderRequest(COID, "AAA", OrderSide.BUY, Decimal(5)))
    old_id = _age(server, COID, timedelta(days=60))
    server.book.prices["AAA"] = Decimal(120)
    with alpaca_context(tmp_path, any_db_url, server) as new:
        seed_installation_id(new.store, "")  # a legacy store
        assert _rows(new, COID) == []  # not imported
        r = gateway.submit(new, BUY5, "system:exec", "execution")
        assert (r.status, r.accepted, r.check, r.broker_order_id) == (OrderStatus.REJECTED, False, "broker", None)
        assert r.reason is not None and r.reason.startswith("broker: ")
        assert COID in r.reason and old_id in r.reason and "already belongs to an older order" in r.reason
        (row,) = _rows(new, COID)
        assert (row.status, row.filled_qty, row.filled_avg_price, row.broker_order_id) == (
            "rejected", 0, None, None)
    assert len(server.book.orders_for(COID)) == 1 and server.book.positions["AAA"][0] == 5  # nothing placed


def test_the_broker_refuses_an_old_order_under_the_id_and_still_resolves_its_own_lost_answer(
        server: FakeAlpacaServer) -> None:
    broker = AlpacaBroker(server.key_id, server.secret_key, url_override=server.url, timeout_s=1.0,
                          retry_wait_s=0.01)
    old_req = OrderRequest("rd-old", "AAA", OrderSide.SELL, Decimal(5))
    server.book.set_position("AAA", Decimal(10), Decimal(100))
    broker.submit_order(old_req)
    old_id = _age(server, "rd-old", timedelta(minutes=10))  # past the 5 minute clock-skew allowance
    server.book.prices["AAA"] = Decimal(80)
    started = datetime.now(UTC)
    with pytest.raises(OrderRejected, match=r"rd-old already belongs to an older order \(Alpaca order " + old_id):
        broker.submit_order(old_req)
    assert len(server.book.orders_for("rd-old")) == 1 and server.book.positions["AAA"][0] == 5
    # this submit's own order whose answer was lost is still found and returned (placed after `started`)
    server.inject("POST", "/v2/orders", "commit_then_drop")
    mine = broker.submit_order(OrderRequest("rd-mine", "AAA", OrderSide.SELL, Decimal(2)))
    (placed,) = server.book.orders_for("rd-mine")
    assert (mine.broker_order_id, mine.status, mine.filled_avg_price) == (placed.id, OrderStatus.FILLED, 80)
    assert mine.submitted_at >= started - timedelta(seconds=1) and server.book.positions["AAA"][0] == 3
