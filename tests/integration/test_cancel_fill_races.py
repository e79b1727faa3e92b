"""Fills that race a cancel: a sliced parent never re-sends what its canceled child filled, and a fill
that lands after our cancel is written back (Alpaca accepts a cancel with 204 and may still fill).

Expectations are hand-computed: a 300 parent in 2 TWAP slices whose child 1 (150) filled 60 before slice 2
rolls it sends child 2 of 300 - 60 = 240 and ends holding 300; a 100 order canceled then filled shows 100.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.clock import ManualClock
from engine.context import EngineContext
from engine.execution.parents import create_parent, work_parents
from engine.execution.slicing import SliceSpec
from engine.market.types import Bar
from engine.settings import load_settings
from engine.store.migrate import open_store
from engine.store.models import BarRow, FillRow, OrderRow, ParentChild, ParentOrder
from engine.trading import control, control_steps
from engine.trading.brokers.alpaca import AlpacaBroker
from engine.trading.brokers.base import BrokerError, BrokerOrder, OrderSide, OrderStatus, OrderType
from engine.trading.brokers.paper import PaperBroker
from engine.trading.gateway import OrderIntent, submit
from engine.trading.sync import sync_from_broker
from tests.fake_alpaca import FakeAlpacaServer
from tests.trading_control_fixtures import LOOSE, T0, broker_context, seed_market

D = Decimal


class _NoReadBack(PaperBroker):
    """A paper broker that cancels but then cannot say how much the order filled (a broker outage)."""

    canceled = False

    def cancel_order(self, broker_order_id: str) -> None:
        super().cancel_order(broker_order_id)
        self.canceled = True

    def get_order_by_client_id(self, client_order_id: str) -> BrokerOrder | None:
        if self.canceled:
            raise BrokerError("paper: unavailable")
        return super().get_order_by_client_id(client_order_id)


@contextmanager
def paper_ctx(tmp_path: Path, url: str, broker_class: Callable[..., PaperBroker] = PaperBroker
              ) -> Iterator[EngineContext]:
    store = open_store(url, migrate=True)
    clock = ManualClock(T0)
    seed_market(store, clock, ("AAA",))
    broker = broker_class(store, clock, starting_cash=D(10_000_000), slippage_bps=D(0), commission_per_share=D(0),
                          participation=D(1))  # a bar fills at most its own volume
    settings = load_settings(database_url=url, market_source="csv", csv_dir=tmp_path)
    ctx = EngineContext(settings=settings, store=store, clock=clock, broker=broker, source=None)
    try:
        sync_from_broker(ctx, LOOSE)
        yield ctx
    finally:
        store.dispose()


def market_bar(ctx: EngineContext, volume: float) -> None:
    """One bar at 100 stored and given to the paper broker: what the engine's market tick does before work_parents."""
    bar = Bar("AAA", ctx.clock.now(), 100.0, 100.0, 100.0, 100.0, volume)
    with ctx.store.write() as s:
        s.add(BarRow(symbol="AAA", ts=bar.ts, open=100, high=100, low=100, close=100, volume=volume))
    ctx.broker.process_bars([bar])  # type: ignore[attr-defined]


def child_qtys(ctx: EngineContext, parent_id: int) -> list[Decimal]:
    with ctx.store.read() as s:
        return list(s.scalars(select(ParentChild.qty).where(ParentChild.parent_id == parent_id)
                              .order_by(ParentChild.seq)))


def settle(ctx: EngineContext, parent_id: int, ticks: int = 4) -> tuple[Decimal, ParentOrder]:
    """Let the market fill everything and the parent finish; the broker's position and the parent row."""
    for _ in range(ticks):
        ctx.clock.advance(timedelta(seconds=100))
        market_bar(ctx, 1e6)
        sync_from_broker(ctx, LOOSE)
        work_parents(ctx)
    ctx.clock.advance(timedelta(seconds=1))
    market_bar(ctx, 1e6)
    sync_from_broker(ctx, LOOSE)
    position = sum((p.qty for p in ctx.broker.get_positions() if p.symbol == "AAA"), D(0))
    with ctx.store.read() as s:
        parent = s.get(ParentOrder, parent_id)
        assert parent is not None
        s.expunge(parent)
    return position, parent


def partly_fill_child_one(ctx: EngineContext) -> int:
    """Parent buy 300 in 2 slices; child 1 (150) fills 60 in a thin bar; no sync before slice 2."""
    pid = create_parent(ctx, "AAA", OrderSide.BUY, D(300), SliceSpec("twap", 200, 2), "alice", "manual", "race")
    work_parents(ctx)
    assert child_qtys(ctx, pid) == [D(150)]
    ctx.clock.advance(timedelta(seconds=100))
    market_bar(ctx, 60)
    return pid


def test_parent_rolls_only_the_unfilled_rest_of_a_partly_filled_child(tmp_path: Path, any_db_url: str) -> None:
    with paper_ctx(tmp_path, any_db_url) as ctx:
        pid = partly_fill_child_one(ctx)
        work_parents(ctx)  # slice 2 in the same tick: cancel child 1 (60 filled), send the rest
        assert child_qtys(ctx, pid) == [D(150), D(240)]
        with ctx.store.read() as s:
            first = s.scalars(select(OrderRow).join(ParentChild, ParentChild.client_order_id == OrderRow.client_order_id)
                              .where(ParentChild.seq == 1)).one()
            # the broker's truth, in the store at once
            assert (first.status, first.filled_qty) == (OrderStatus.CANCELED.value, D(60))
        position, parent = settle(ctx, pid)
        assert position == D(300)
        assert (parent.status, parent.filled_qty) == ("done", D(300))
        assert child_qtys(ctx, pid) == [D(150), D(240)]


def test_parent_sends_no_more_than_proven_unfilled_when_the_broker_cannot_say(tmp_path: Path,
                                                                             any_db_url: str) -> None:
    with paper_ctx(tmp_path, any_db_url, _NoReadBack) as ctx:
        pid = partly_fill_child_one(ctx)
        work_parents(ctx)  # child 1 canceled but not read back: it counts whole (150), so 300 - 150 = 150 more
        assert child_qtys(ctx, pid) == [D(150), D(150)]
        ctx.broker.canceled = False  # type: ignore[attr-defined]  # the broker answers again
        position, parent = settle(ctx, pid)
        assert position == D(300)  # 60 + 150 + the 90 the sweep sends once sync shows child 1's 60
        assert (parent.status, parent.filled_qty) == ("done", D(300))


@pytest.fixture
def alpaca(tmp_path: Path, any_db_url: str) -> Iterator[tuple[EngineContext, FakeAlpacaServer]]:
    with FakeAlpacaServer() as server:
        def broker(_clock: ManualClock) -> AlpacaBroker:
            return AlpacaBroker(server.key_id, server.secret_key, paper=True, url_override=server.url, timeout_s=5.0,
                                retry_wait_s=0.01, retry_max_wait_s=0.05, sdk_retry_wait_s=0.05)

        with broker_context(tmp_path, any_db_url, broker, LOOSE) as ctx:
            yield ctx, server


def stored(ctx: EngineContext, coid: str) -> OrderRow:
    with ctx.store.read() as s:
        row = s.scalars(select(OrderRow).where(OrderRow.client_order_id == coid)).one()
        s.expunge(row)
        return row


def test_a_fill_after_an_accepted_cancel_is_written_back(alpaca: tuple[EngineContext, FakeAlpacaServer]) -> None:
    ctx, server = alpaca
    result = submit(ctx, OrderIntent("AAA", OrderSide.BUY, D(100), OrderType.LIMIT, D(99), reason="test",
                                     idempotency_key="late-fill"), "planner", "planner", LOOSE)
    [order] = server.book.orders_for(result.client_order_id)
    server.inject("DELETE", f"/v2/orders/{order.id}", "error", status=204)  # accepted; Alpaca may still fill it
    cctx = control.SimpleControlContext(store=ctx.store, clock=ctx.clock, broker=ctx.broker)
    control_steps.cancel_order(cctx, "op", {"order_id": result.client_order_id})
    assert stored(ctx, result.client_order_id).status == OrderStatus.CANCELED.value  # what the kill switch shows
    server.book.fill(order.id, D(100), D(99))
    sync_from_broker(ctx, LOOSE)
    row = stored(ctx, result.client_order_id)
    assert (row.status, row.filled_qty, row.filled_avg_price) == (OrderStatus.FILLED.value, D(100), D(99))
    sync_from_broker(ctx, LOOSE)  # again: nothing counted twice
    with ctx.store.read() as s:
        total = s.scalar(select(func.sum(FillRow.qty)).where(FillRow.client_order_id == result.client_order_id))
    assert total == D(100)
    assert [(p.symbol, p.qty) for p in ctx.broker.get_positions()] == [("AAA", D(100))]


def test_a_stale_broker_view_never_lowers_a_fill_or_reopens(alpaca: tuple[EngineContext, FakeAlpacaServer]) -> None:
    ctx, server = alpaca
    result = submit(ctx, OrderIntent("AAA", OrderSide.BUY, D(100), OrderType.LIMIT, D(99), reason="test",
                                     idempotency_key="partial"), "planner", "planner", LOOSE)
    [order] = server.book.orders_for(result.client_order_id)
    server.book.fill(order.id, D(40), D(99))
    server.book.cancel(order.id)
    sync_from_broker(ctx, LOOSE)
    row = stored(ctx, result.client_order_id)
    assert (row.status, row.filled_qty) == (OrderStatus.CANCELED.value, D(40))  # partly filled, then canceled
    order.filled_qty, order.status = D(10), "partially_filled"  # a stale, out-of-order report
    sync_from_broker(ctx, LOOSE)
    row = stored(ctx, result.client_order_id)
    assert (row.status, row.filled_qty) == (OrderStatus.CANCELED.value, D(40))


def test_a_parent_child_filled_after_its_cancel_is_not_sent_again(
        alpaca: tuple[EngineContext, FakeAlpacaServer]) -> None:
    """Parent buy 300 in 3 slices: child 1 (100) is canceled with 204 but fills; the parent must buy 300, not 400."""
    ctx, server = alpaca
    pid = create_parent(ctx, "AAA", OrderSide.BUY, D(300), SliceSpec("twap", 300, 3, limit_offset_bps=D(0)),
                        "alice", "manual", "late")
    work_parents(ctx)
    [coid] = _child_coids(ctx, pid)
    [first] = server.book.orders_for(coid)
    server.inject("DELETE", f"/v2/orders/{first.id}", "error", status=204)
    ctx.clock.advance(timedelta(seconds=100))
    work_parents(ctx)  # slice 2: child 1's cancel is accepted, not done
    for _ in range(5):
        for o in server.book.open_orders():
            server.book.fill(o.id, o.qty - o.filled_qty, D(100))
        sync_from_broker(ctx, LOOSE)
        ctx.clock.advance(timedelta(seconds=100))
        work_parents(ctx)
    assert stored(ctx, coid).filled_qty == D(100)
    assert [(p.symbol, p.qty) for p in ctx.broker.get_positions()] == [("AAA", D(300))]
    with ctx.store.read() as s:
        parent = s.get(ParentOrder, pid)
        assert parent is not None and (parent.status, parent.filled_qty) == ("done", D(300))


def _child_coids(ctx: EngineContext, parent_id: int) -> list[str]:
    with ctx.store.read() as s:
        return list(s.scalars(select(ParentChild.client_order_id).where(ParentChild.parent_id == parent_id)
                              .order_by(ParentChild.seq)))
