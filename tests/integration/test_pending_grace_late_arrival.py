"""An order the sync wrote off as "never received" after the pending grace is taken back when the broker reports it
after all (a send still in flight when the grace ran out: a slow release of a native stop, a paused process). The
broker's view replaces our guess: its status, id and fills; otherwise the order stayed "rejected" while it worked
and filled at the broker, invisible to the open orders and to cancels. Paper broker, SQLite and PostgreSQL."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from engine.store.models import OrderRow
from engine.trading.brokers.base import BrokerUnavailable, OrderRequest, OrderSide
from engine.trading.brokers.paper import PaperBroker
from engine.trading.gateway import OrderIntent, submit
from engine.trading.sync import sync_from_broker
from tests.trading_control_fixtures import LOOSE, fill_next_bar, make_ctx


class _Unreachable:
    """The paper broker behind a send that fails before reaching it (the gateway leaves the order pending_new)."""

    def __init__(self, inner: PaperBroker) -> None:
        self._inner, self.name = inner, inner.name

    def submit_order(self, request: OrderRequest) -> Any:
        raise BrokerUnavailable("connection reset before the request was written")

    def __getattr__(self, item: str) -> Any:
        return getattr(self._inner, item)


def _row(ctx: Any, coid: str) -> OrderRow:
    with ctx.store.read() as s:
        return s.scalars(select(OrderRow).where(OrderRow.client_order_id == coid)).one()


def test_a_written_off_order_that_reaches_the_broker_late_is_taken_back(tmp_path, any_db_url) -> None:  # type: ignore[no-untyped-def]
    ctx = make_ctx(tmp_path, url=any_db_url)  # the paper broker on a seeded market (AAA at 100)
    try:
        sync_from_broker(ctx, LOOSE)
        inner = ctx.broker
        result = submit(replace(ctx, broker=_Unreachable(inner)),
                        OrderIntent("AAA", OrderSide.BUY, Decimal(10), idempotency_key="late"), "t", "manual", LOOSE)
        assert result.accepted and result.status.value == "pending_new"
        ctx.clock.advance(timedelta(seconds=60))  # past the 30 s grace, the broker still does not know it
        sync_from_broker(ctx, LOOSE)
        row = _row(ctx, result.client_order_id)
        assert row.status == "rejected" and (row.reject_reason or "").startswith("broker: never received")
        # the send that was still in flight arrives: the same client order id, the same order
        late = inner.submit_order(OrderRequest(result.client_order_id, "AAA", OrderSide.BUY, Decimal(10)))
        sync_from_broker(ctx, LOOSE)
        row = _row(ctx, result.client_order_id)
        assert (row.status, row.broker_order_id, row.reject_reason) == ("new", late.broker_order_id, None)
        fill_next_bar(ctx, "AAA")  # fills at the next open, 100
        sync_from_broker(ctx, LOOSE)
        row = _row(ctx, result.client_order_id)
        assert (row.status, row.filled_qty) == ("filled", Decimal(10))
    finally:
        ctx.store.dispose()
