"""A stopped parent's child whose cancel the broker refused (Alpaca's 422, or a cancel the venue accepted then refused)
stays pending: asked again on each market tick, at most 5 requests in all, each refusal audited; then given up,
audited as failed and a failure notification sent. Never marked canceled on our own word: a child the broker shows
filled is recorded filled. Real HTTP to the fake Alpaca (alpaca-py not mocked) and a real notification receiver;
the paper broker for the filled case; SQLite and PostgreSQL."""
from __future__ import annotations

from decimal import Decimal as D

from sqlalchemy import select

from engine import notify
from engine.context import EngineContext
from engine.execution.parent_control import cancel_parent, parent_views
from engine.execution.parents import create_parent, work_parents
from engine.execution.slicing import SliceSpec
from engine.execution.tick import on_market_tick
from engine.market.types import Bar
from engine.store.models import AuditEvent, BarRow, KeyValue, OrderRow
from engine.trading.brokers.base import OrderSide
from engine.trading.sync import sync_from_broker
from tests.fake_alpaca import FakeAlpacaServer
from tests.fake_alpaca.book import FakeOrder
from tests.integration.test_execution_db import build
from tests.notify_receiver import Receiver
from tests.trading_control_fixtures import alpaca_fixtures

server, ctx = alpaca_fixtures()
REFUSAL = {"code": 42210000, "message": "order is not cancelable"}


def _resting_child(server: FakeAlpacaServer, ctx: EngineContext) -> tuple[int, FakeOrder]:
    """A TWAP buy of 30 in 3 slices with limit children 10 bps through the last price (100.10): child 1 of 10 rests
    at the fake (it fills no limit order by itself)."""
    pid = create_parent(ctx, "AAA", OrderSide.BUY, D(30), SliceSpec("twap", 300, 3, limit_offset_bps=D(10)),
                        "alice", "manual", "cc-1")
    assert work_parents(ctx) == ["parent 1: child 1 buy 10 limit 100.10: new"]
    [child] = server.book.open_orders()
    return pid, child


def _tick(ctx: EngineContext) -> None:
    ctx.clock.advance(60)  # type: ignore[attr-defined]  # a ManualClock
    on_market_tick(ctx, [])


def _row(ctx: EngineContext, coid: str) -> OrderRow:
    with ctx.store.read() as s:
        return s.scalars(select(OrderRow).where(OrderRow.client_order_id == coid)).one()


def _audits(ctx: EngineContext, action: str) -> list[AuditEvent]:
    with ctx.store.read() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def _notes(ctx: EngineContext) -> list[str]:
    with ctx.store.read() as s:
        return list(s.scalars(select(KeyValue.key).where(KeyValue.key.like("execution.child_cancel:%"))))


def test_a_refused_child_cancel_is_asked_again_until_the_broker_takes_it(server: FakeAlpacaServer,
                                                                         ctx: EngineContext) -> None:
    pid, child = _resting_child(server, ctx)
    delete = f"/v2/orders/{child.id}"
    server.inject("DELETE", delete, "error", times=2, status=422, body=REFUSAL)
    said = cancel_parent(ctx, pid, "alice")
    assert child.status == "new" and _row(ctx, child.client_order_id).status == "new", "not canceled on our word"
    _tick(ctx)  # the 2nd request: refused too
    assert server.hits_for("DELETE", delete) == 2 and child.status == "new"
    assert said.startswith("parent 1 canceled; 0 of 1 working child order(s) canceled; the broker did not cancel 1")
    refusals = _audits(ctx, "parent.child_cancel_refused")
    assert [(a.details["attempt"], a.outcome, a.target) for a in refusals] == [(1, "refused", "AAA"),
                                                                              (2, "refused", "AAA")]
    assert "not cancelable" in refusals[0].details["why"]
    _tick(ctx)  # the 3rd: taken
    assert server.hits_for("DELETE", delete) == 3 and child.status == "canceled"
    assert _row(ctx, child.client_order_id).status == "canceled"
    assert [a.details["attempt"] for a in _audits(ctx, "parent.child_cancel")] == [3]
    sync_from_broker(ctx)  # the broker's view confirms it: the pending note goes, nothing is asked again
    _tick(ctx)
    _tick(ctx)
    assert server.hits_for("DELETE", delete) == 3 and _notes(ctx) == []
    assert _audits(ctx, "parent.child_cancel_failed") == []


def test_a_cancel_refused_every_time_is_given_up_after_five_and_surfaced(server: FakeAlpacaServer,
                                                                         ctx: EngineContext) -> None:
    pid, child = _resting_child(server, ctx)
    delete = f"/v2/orders/{child.id}"
    server.inject("DELETE", delete, "error", times=20, status=422, body=REFUSAL)
    with Receiver() as rx:
        notify.configure([rx.url()])
        try:
            cancel_parent(ctx, pid, "alice")  # request 1
            for _ in range(4):  # requests 2..5: the 5th refusal gives up
                _tick(ctx)
            for _ in range(3):  # nothing more is asked
                _tick(ctx)
            assert notify.current().flush(10.0)
            got = rx.wait_for(1)
        finally:
            notify.configure([])
    assert server.hits_for("DELETE", delete) == 5
    assert [a.details["attempt"] for a in _audits(ctx, "parent.child_cancel_refused")] == [1, 2, 3, 4, 5]
    [failed] = _audits(ctx, "parent.child_cancel_failed")
    assert (failed.outcome, failed.actor, failed.target, failed.details["attempt"]) == ("failed", "system:execution",
                                                                                        "AAA", 5)
    assert [r["json"]["title"] for r in got] == ["RegimeDesk: child order of parent 1 not canceled"]
    assert child.client_order_id in got[0]["json"]["message"] and "may still fill" in got[0]["json"]["message"]
    # still working at the broker, and so in the store and on the Trading page: never marked canceled
    assert child.status == "new" and _row(ctx, child.client_order_id).status == "new"
    with ctx.store.read() as s:
        [view] = parent_views(s)
    assert (view["status"], view["working"]) == ("canceled", 1)


def test_a_cancel_the_venue_refused_after_accepting_is_asked_again(server: FakeAlpacaServer,
                                                                   ctx: EngineContext) -> None:
    pid, child = _resting_child(server, ctx)
    server.book.async_cancel = True  # DELETE only requests the cancel (pending_cancel), as Alpaca does
    assert "1 of 1 working child order(s) canceled" in cancel_parent(ctx, pid, "alice")
    server.book.reject_cancel(child.id)  # the venue refuses it: the order works on
    server.book.async_cancel = False
    sync_from_broker(ctx)  # the store learns it works on
    assert _row(ctx, child.client_order_id).status == "new"
    _tick(ctx)
    assert server.hits_for("DELETE", f"/v2/orders/{child.id}") == 2 and child.status == "canceled"
    assert _row(ctx, child.client_order_id).status == "canceled"


def test_a_refused_cancel_of_a_child_the_broker_filled_records_the_fill(any_db_url, tmp_path) -> None:
    """Paper broker: the child (market, 100) fills on a bar the store has not synced yet; the parent's cancel is
    refused ("filled"): the child is recorded filled at once, nothing stays pending or is audited as refused."""
    paper = build(any_db_url, tmp_path)
    try:
        pid = create_parent(paper, "AAA", OrderSide.BUY, D(300), SliceSpec("twap", 300, 3), "alice", "manual", "f1")
        work_parents(paper)  # child 1: market buy 100
        paper.clock.advance(60)  # type: ignore[attr-defined]  # a ManualClock
        fill = Bar("AAA", paper.clock.now(), 101, 101, 101, 101, 1e6)
        with paper.store.write() as s:
            s.add(BarRow(symbol="AAA", ts=fill.ts, open=101, high=101, low=101, close=101, volume=1e6))
        paper.broker.process_bars([fill])  # type: ignore[attr-defined]  # the PaperBroker: filled at 101 there;
        # the store still reads it working
        assert "0 of 1 working child order(s) canceled" in cancel_parent(paper, pid, "alice")
        with paper.store.read() as s:
            [row] = list(s.scalars(select(OrderRow).where(OrderRow.origin == "manual")))
        assert (row.status, row.filled_qty, row.filled_avg_price) == ("filled", D(100), D(101))
        on_market_tick(paper, [])
        assert _audits(paper, "parent.child_cancel_refused") == [] and _notes(paper) == []
    finally:
        paper.store.dispose()
