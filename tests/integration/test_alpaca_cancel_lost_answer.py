"""A cancel whose answer is lost (504, dropped connection) is retried; the retry meets Alpaca's 422 "not cancelable
(status canceled)" because the first attempt did cancel. That is a successful cancel, and the trader's Cancel marks
the stored row canceled. A retry that finds the order filled says "filled". Real HTTP to the fake Alpaca; the
store steps on SQLite and PostgreSQL.
"""
from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import select

from engine.context import EngineContext
from engine.store.models import OrderRow
from engine.trading import gateway
from engine.trading.brokers.alpaca import AlpacaBroker
from engine.trading.brokers.base import BrokerError, OrderRequest, OrderSide, OrderType
from engine.trading.control_steps import cancel_order
from engine.trading.intent import OrderIntent
from tests.fake_alpaca import FakeAlpacaServer
from tests.trading_control_fixtures import alpaca_fixtures

server, ctx = alpaca_fixtures()


@pytest.fixture
def broker(server: FakeAlpacaServer) -> Iterator[AlpacaBroker]:
    yield AlpacaBroker(server.key_id, server.secret_key, url_override=server.url, timeout_s=1.0, retry_wait_s=0.01)


def _resting(server: FakeAlpacaServer, broker: AlpacaBroker, coid: str) -> str:
    order = broker.submit_order(OrderRequest(coid, "AAA", OrderSide.BUY, Decimal(1), OrderType.LIMIT, Decimal(50)))
    assert server.book.orders[order.broker_order_id].status == "new"
    return order.broker_order_id


@pytest.mark.parametrize("lost", ["commit_then_504", "commit_then_drop"])
def test_a_retried_cancel_refused_as_already_canceled_succeeds(server: FakeAlpacaServer, broker: AlpacaBroker,
                                                               lost: str) -> None:
    oid = _resting(server, broker, f"rest-{lost}")
    server.inject("DELETE", f"/v2/orders/{oid}", lost)
    broker.cancel_order(oid)  # no BrokerError
    assert server.book.orders[oid].status == "canceled" and server.book.orders[oid].filled_qty == 0
    assert server.hits_for("DELETE", f"/v2/orders/{oid}") == 2, "the lost answer, then the refused retry"


def test_a_retried_cancel_that_finds_the_order_filled_says_filled(server: FakeAlpacaServer,
                                                                  broker: AlpacaBroker) -> None:
    oid = _resting(server, broker, "rest-filled")
    server.book.fill(oid, Decimal(1), Decimal("49.5"))
    server.inject("DELETE", f"/v2/orders/{oid}", "504")  # the first attempt's answer is lost
    with pytest.raises(BrokerError, match=r"not cancelable, it is filled \(1 AAA at 49\.5\)"):
        broker.cancel_order(oid)


def test_the_traders_cancel_after_a_lost_answer_marks_the_row_canceled(server: FakeAlpacaServer,
                                                                        ctx: EngineContext) -> None:
    r = gateway.submit(ctx, OrderIntent("AAA", OrderSide.BUY, Decimal(1), OrderType.LIMIT, Decimal(99),
                                        idempotency_key="k1"), "trader", "manual")
    assert r.accepted and r.broker_order_id is not None
    server.inject("DELETE", f"/v2/orders/{r.broker_order_id}", "commit_then_504")
    assert cancel_order(ctx, "trader", {"order_id": r.client_order_id}).startswith("cancelled AAA buy 1")
    with ctx.store.read() as s:
        row = s.scalars(select(OrderRow).where(OrderRow.client_order_id == r.client_order_id)).one()
        assert row.status == "canceled"
    assert server.book.orders[r.broker_order_id].status == "canceled"
