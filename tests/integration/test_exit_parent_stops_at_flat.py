"""A sliced exit parent never sells past flat (nor buys back past flat): audit 2, defect 2.

Real gateway, real paper broker, real store (SQLite and PostgreSQL). The TWAP parents here work 100 shares in 3
slices over 180 s: cumulative targets 33, 67, 100 at +0, +60, +120 s. Every bar is flat, so market orders fill at
its open; the expected quantities are worked out in the comments.
"""
from __future__ import annotations

from decimal import Decimal as D

import pytest
from sqlalchemy import select

from engine.context import EngineContext
from engine.execution.parents import create_parent, work_parents
from engine.execution.slicing import SliceSpec
from engine.market.types import Bar
from engine.store.models import AuditEvent, OrderRow, ParentChild, ParentOrder, PositionRow
from engine.trading.brokers.base import OrderRequest, OrderSide, OrderType
from engine.trading.gateway import OrderIntent, submit
from tests.integration.test_execution_db import LIMITS, bar, build, buy

TWAP = SliceSpec("twap", 180, 3)


@pytest.fixture()
def ctx(any_db_url, tmp_path):  # type: ignore[no-untyped-def]
    c = build(any_db_url, tmp_path)
    yield c
    c.store.dispose()


def position(ctx: EngineContext) -> D:
    with ctx.store.read() as s:
        return s.scalar(select(PositionRow.qty).where(PositionRow.symbol == "AAA")) or D(0)


def by_hand(ctx: EngineContext, side: OrderSide, qty: int, key: str) -> None:
    """The trader's own market order through the gateway, filled by the next bar (1 s later)."""
    assert submit(ctx, OrderIntent("AAA", side, D(qty), idempotency_key=key), "alice", "manual", LIMITS).accepted
    bar(ctx, 100, 100, 100, 100, seconds=1)


def children(ctx: EngineContext, pid: int) -> list[OrderRow]:
    with ctx.store.read() as s:
        coids = list(s.scalars(select(ParentChild.client_order_id).where(ParentChild.parent_id == pid)
                               .order_by(ParentChild.seq)))
        rows = {r.client_order_id: r for r in s.scalars(select(OrderRow).where(OrderRow.client_order_id.in_(coids)))}
    return [rows[c] for c in coids]


def parent(ctx: EngineContext, pid: int) -> ParentOrder:
    with ctx.store.read() as s:
        return s.get(ParentOrder, pid)


def done_audit(ctx: EngineContext, pid: int) -> AuditEvent:
    with ctx.store.read() as s:
        rows = [a for a in s.scalars(select(AuditEvent).where(AuditEvent.action == "parent.done"))
                if a.details.get("parent_id") == pid]
    assert len(rows) == 1
    return rows[0]


def ticks(ctx: EngineContext, n: int = 6) -> None:
    """`n` ticks of 40 s (bounded): past the parent's 180 s and its sweep."""
    for _ in range(n):
        bar(ctx, 100, 100, 100, 100, seconds=39)
        work_parents(ctx)
        bar(ctx, 100, 100, 100, 100, seconds=1)


def test_an_exit_parent_ends_when_the_trader_sold_the_rest(ctx):
    buy(ctx, 100)  # long 100
    pid = create_parent(ctx, "AAA", OrderSide.SELL, D(100), TWAP, "alice", "manual", "exit-1")
    work_parents(ctx)  # child 1: sell 33
    bar(ctx, 100, 100, 100, 100, seconds=30)
    assert position(ctx) == D(67)
    by_hand(ctx, OrderSide.SELL, 67, "by-hand")  # 67 - 67 = 0: the position the parent exits is gone
    assert position(ctx) == D(0)
    bar(ctx, 100, 100, 100, 100, seconds=39)
    assert work_parents(ctx) == [f"parent {pid}: done (nothing left to exit); 0 working child order(s) canceled"]
    ticks(ctx)
    assert position(ctx) == D(0)  # not -67
    assert [(c.side, c.qty, c.filled_qty) for c in children(ctx, pid)] == [("sell", D(33), D(33))]
    row = parent(ctx, pid)
    assert (row.status, row.filled_qty) == ("done", D(33))
    assert row.note.startswith("position already closed (33 of 100 filled)")
    assert done_audit(ctx, pid).details["note"] == row.note


def test_each_exit_child_is_capped_at_the_shares_still_held(ctx):
    buy(ctx, 100)
    pid = create_parent(ctx, "AAA", OrderSide.SELL, D(100), TWAP, "alice", "manual", "exit-2")
    work_parents(ctx)  # child 1: sell 33 -> 67 left
    bar(ctx, 100, 100, 100, 100, seconds=30)
    by_hand(ctx, OrderSide.SELL, 50, "by-hand")  # 67 - 50 = 17 left
    ticks(ctx)  # slice 1 wants 67 - 33 = 34: capped at the 17 held; then nothing is left
    assert [(c.qty, c.filled_qty) for c in children(ctx, pid)] == [(D(33), D(33)), (D(17), D(17))]
    assert position(ctx) == D(0)
    row = parent(ctx, pid)
    assert (row.status, row.filled_qty) == ("done", D(50))
    assert row.note.startswith("position already closed (50 of 100 filled)")


def test_an_exit_child_leaves_the_shares_other_working_sells_take(ctx):
    buy(ctx, 100)
    take_profit = OrderIntent("AAA", OrderSide.SELL, D(60), OrderType.LIMIT, D(104), idempotency_key="tp")
    assert submit(ctx, take_profit, "alice", "manual", LIMITS).accepted  # rests: no bar reaches 104
    pid = create_parent(ctx, "AAA", OrderSide.SELL, D(100), TWAP, "alice", "manual", "exit-3")
    work_parents(ctx)  # slice 0: 33 wanted, 100 - 60 = 40 free -> 33
    bar(ctx, 100, 100, 100, 100, seconds=30)  # 67 held
    ticks(ctx)  # slice 1: 34 wanted, 67 - 60 = 7 free -> 7; then 60 held, all of it in the take-profit
    assert [(c.qty, c.filled_qty) for c in children(ctx, pid)] == [(D(33), D(33)), (D(7), D(7))]
    assert position(ctx) == D(60)
    row = parent(ctx, pid)
    assert (row.status, row.filled_qty) == ("done", D(40))
    assert row.note.startswith("the 60 shares still held are covered by other working sell orders (40 of 100 filled)")
    with ctx.store.read() as s:
        tp = s.scalars(select(OrderRow).where(OrderRow.limit_price == D(104))).one()
    assert (tp.status, tp.qty, tp.filled_qty) == ("new", D(60), D(0))


def test_a_cover_parent_ends_when_the_short_is_gone(ctx):
    by_hand(ctx, OrderSide.SELL, 100, "open-short")  # short 100
    assert position(ctx) == D(-100)
    pid = create_parent(ctx, "AAA", OrderSide.BUY, D(100), TWAP, "alice", "manual", "cover-1")
    work_parents(ctx)  # child 1: buy 33 -> short 67
    bar(ctx, 100, 100, 100, 100, seconds=30)
    by_hand(ctx, OrderSide.BUY, 67, "by-hand")  # flat
    ticks(ctx)
    assert position(ctx) == D(0)  # not long 67
    assert [(c.side, c.qty) for c in children(ctx, pid)] == [("buy", D(33))]
    row = parent(ctx, pid)
    assert (row.status, row.filled_qty) == ("done", D(33))
    assert row.note.startswith("position already closed (33 of 100 filled)")


def test_an_exit_child_over_a_position_sold_at_the_broker_is_canceled_and_resent_capped(ctx):
    buy(ctx, 100)
    spec = SliceSpec("twap", 180, 3, limit_offset_bps=D(10))
    pid = create_parent(ctx, "AAA", OrderSide.SELL, D(100), spec, "alice", "manual", "exit-4")
    work_parents(ctx)  # child 1: sell 33 limit 99.90 (100 less 10 bps); bars at 99 never reach it
    # the trader sells 80 in the broker's own app, outside RegimeDesk: it fills at the next open, 99
    ctx.broker.submit_order(OrderRequest("outside-1", "AAA", OrderSide.SELL, D(80)))
    bar(ctx, 99, 99, 99, 99, seconds=30)
    assert position(ctx) == D(20)
    lines = work_parents(ctx)  # 20 held under a working child of 33: it is canceled
    assert lines == [f"parent {pid}: working children exceed the position left to exit; 1 of 1 canceled, the rest "
                     "is resent capped"]
    bar(ctx, 99, 99, 99, 99, seconds=39)  # +70 s: slice 1 wants 67, capped at the 20 held: limit 98.91
    work_parents(ctx)
    bar(ctx, 99, 99, 99, 99, seconds=1)  # 98.91 <= 99: filled
    ticks(ctx)
    assert [(c.qty, c.filled_qty, c.status) for c in children(ctx, pid)] == [(D(33), D(0), "canceled"),
                                                                              (D(20), D(20), "filled")]
    assert children(ctx, pid)[1].limit_price == D("98.91")
    assert position(ctx) == D(0)
    assert parent(ctx, pid).note.startswith("position already closed (20 of 100 filled)")


def test_a_parent_that_opens_a_short_is_not_capped(ctx):
    pid = create_parent(ctx, "AAA", OrderSide.SELL, D(90), TWAP, "alice", "manual", "open-1")  # flat book
    work_parents(ctx)
    bar(ctx, 100, 100, 100, 100, seconds=1)
    ticks(ctx)
    assert [c.qty for c in children(ctx, pid)] == [D(30), D(30), D(30)]
    assert position(ctx) == D(-90)
    row = parent(ctx, pid)
    assert (row.status, row.filled_qty) == ("done", D(90))
    with ctx.store.read() as s:
        created = s.scalars(select(AuditEvent).where(AuditEvent.action == "parent.create")).one()
    assert created.details["exit"] is False


def test_an_exit_child_is_sized_on_the_brokers_position_when_the_store_has_not_synced_yet(ctx):
    buy(ctx, 100)
    pid = create_parent(ctx, "AAA", OrderSide.SELL, D(100), TWAP, "alice", "manual", "exit-5")
    work_parents(ctx)  # child 1: sell 33
    bar(ctx, 100, 100, 100, 100, seconds=30)  # 67 held, synced
    ctx.broker.submit_order(OrderRequest("outside-2", "AAA", OrderSide.SELL, D(67)))  # sold in the broker's app
    ctx.clock.advance(39)  # +69 s: slice 1 due (34 wanted); the broker fills the 67, no account sync yet
    ctx.broker.process_bars([Bar("AAA", ctx.clock.now(), 100.0, 100.0, 100.0, 100.0, 1e6)])
    assert position(ctx) == D(67)  # the store still shows the last sync's position
    assert work_parents(ctx) == []  # the broker holds 0: no child
    bar(ctx, 100, 100, 100, 100, seconds=1)  # stored and synced: 0
    ticks(ctx)
    assert position(ctx) == D(0)
    assert [c.qty for c in children(ctx, pid)] == [D(33)]
    assert parent(ctx, pid).note.startswith("position already closed (33 of 100 filled)")
