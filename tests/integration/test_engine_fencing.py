"""Fencing at write time: an engine that lost the lease records nothing and sends nothing, in the
transaction that would have written (engine/lease.py), on SQLite and PostgreSQL.

Two engine contexts share one store and one hand-moved clock: A leads, the clock moves past A's lease,
B takes over. A's own self-check (monotonic time since its last renewal) still says "held", which is the
situation of a leader frozen right after that check: only the store's epoch can stop it now.
"""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from engine import jobs
from engine.clock import ManualClock
from engine.lease import FencedOut, LeaseFence
from engine.runtime import build_context
from engine.settings import load_settings
from engine.store.models import (
    AccountSnapshot,
    CommandRow,
    EngineLease,
    OrderRow,
    PaperOrder,
    ReconciliationRun,
    TradingStateRow,
)
from engine.trading import commands, control
from engine.trading.brokers.base import OrderSide
from engine.trading.gateway import OrderIntent, submit
from engine.trading.reconcile import reconcile
from engine.trading.sync import sync_from_broker


def _counts(store) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with store.read() as s:
        return {name: int(s.scalar(select(func.count()).select_from(model)) or 0) for name, model in (
            ("orders", OrderRow), ("paper_orders", PaperOrder), ("snapshots", AccountSnapshot),
            ("reconciliations", ReconciliationRun))}


def _state(store) -> str:  # type: ignore[no-untyped-def]
    with store.read() as s:
        return str(s.get(TradingStateRow, 1).state)  # type: ignore[union-attr]


@pytest.fixture
def engines(any_db_url: str):  # type: ignore[no-untyped-def]
    settings = load_settings(database_url=any_db_url, warmup_polls=30)
    clock = ManualClock()
    a = build_context(settings, with_source=True, migrate=True, clock=clock)
    b = build_context(settings, with_source=True, migrate=False, clock=clock, store=a.store)
    web = build_context(settings, with_source=False, migrate=False, clock=clock, store=a.store)  # no fence
    lost: list[str] = []
    a.fence = LeaseFence(a.engine_id, on_lost=lambda: lost.append("a"))
    b.fence = LeaseFence(b.engine_id)
    yield a, b, web, clock, lost
    a.store.dispose()


def test_an_old_leader_records_and_sends_nothing_after_a_takeover(engines) -> None:  # type: ignore[no-untyped-def]
    a, b, web, clock, lost = engines
    assert jobs.heartbeat(a) is True
    jobs.resume_source(a, 30)  # bars, so orders have a price
    from engine.cycle import EngineCycle

    EngineCycle().startup(a)  # trading state row, parameters, first reconciliation (A still leads)
    epoch_a = a.fence.epoch
    assert epoch_a is not None and a.fence.surely_held()
    first = submit(a, OrderIntent("ALFA", OrderSide.BUY, Decimal(5), idempotency_key="a-1"), "system:planner", "planner")
    assert first.accepted, first
    with a.store.read() as s:
        assert s.scalars(select(OrderRow.lease_epoch).where(OrderRow.client_order_id == first.client_order_id)).one() == epoch_a

    assert jobs.heartbeat(b) is False  # standby while A's lease holds
    clock.advance(timedelta(seconds=jobs.LEASE_SECONDS + 1))
    assert jobs.heartbeat(b) is True  # takeover
    with a.store.read() as s:
        assert s.get(EngineLease, 1).epoch == epoch_a + 1  # type: ignore[union-attr]
    assert a.fence.surely_held()  # A's self-check cannot know: it did not beat since (like a frozen process)

    before, state_before = _counts(a.store), _state(a.store)
    intent = OrderIntent("BRVO", OrderSide.BUY, Decimal(3), idempotency_key="a-2")
    with pytest.raises(FencedOut):
        submit(a, intent, "system:planner", "planner")
    assert lost == ["a"] and a.fence.epoch is None  # A stepped down
    a.fence.grant(epoch_a, a.fence.valid_until + 1e9)  # as if still frozen: every other write must be refused too
    with pytest.raises(FencedOut):
        sync_from_broker(a)
    a.fence.grant(epoch_a, a.fence.valid_until + 1e9)
    with pytest.raises(FencedOut):
        reconcile(a)
    a.fence.grant(epoch_a, a.fence.valid_until + 1e9)
    with pytest.raises(FencedOut):  # an engine-initiated state change (a risk trigger's pause)
        control.perform(a, "system:risk", control.Action.PAUSE, reason="fenced", execute="here")
    a.fence.grant(epoch_a, a.fence.valid_until + 1e9)
    with pytest.raises(FencedOut):
        jobs.market_tick(a)  # no bars stored, no paper order matched
    assert _counts(a.store) == before, "the old leader wrote after the takeover"
    assert _state(a.store) == state_before

    # a kill switch written by the web while A is frozen: A cannot claim it, so it is never left undone
    with web.store.write() as s:
        cmd = commands.create(s, clock.now(), "web:alice", "halt", {"reason": "test", "flatten": False}, [], "pending", "")
        cmd_id = cmd.id
    a.fence.grant(epoch_a, a.fence.valid_until + 1e9)
    with pytest.raises(FencedOut):
        commands.claim(a.store, cmd_id, clock.now(), "engine a", fenced=a)
    with web.store.read() as s:
        assert s.get(CommandRow, cmd_id).status == "pending"  # type: ignore[union-attr]
    assert commands.claim(b.store, cmd_id, clock.now(), "engine b", fenced=b)  # the new leader can

    # the new leader writes and sends under its epoch
    second = submit(b, intent, "system:planner", "planner")
    assert second.accepted, second
    with b.store.read() as s:
        row = s.scalars(select(OrderRow).where(OrderRow.client_order_id == second.client_order_id)).one()
        assert row.lease_epoch == epoch_a + 1
        assert s.scalar(select(func.count()).select_from(PaperOrder).where(
            PaperOrder.client_order_id == second.client_order_id)) == 1

    # web and CLI control actions are not engine writes: the kill switch works without any lease
    jobs.release_lease(b)
    clock.advance(timedelta(seconds=jobs.LEASE_SECONDS + 1))
    result = control.perform(web, "web:alice", control.Action.HALT, reason="web, no engine", execute="here")
    assert result.ok, result
    assert _state(web.store) == "HALTED"


def test_a_lapsed_lease_fences_its_own_holder_until_it_beats_again(engines) -> None:  # type: ignore[no-untyped-def]
    """No standby took over, but the lease lapsed (the engine stalled): its writes are refused until a beat
    takes the lease again, with a new epoch, so writes begun before the stall cannot land after it."""
    a, _b, _web, clock, lost = engines
    assert jobs.heartbeat(a) is True
    old = a.fence.epoch
    clock.advance(timedelta(seconds=jobs.LEASE_SECONDS + 1))
    with pytest.raises(FencedOut, match="lapsed"):
        sync_from_broker(a)
    assert lost == ["a"]
    assert jobs.heartbeat(a) is True
    assert a.fence.epoch == old + 1  # type: ignore[operator]
    sync_from_broker(a)  # writes again
