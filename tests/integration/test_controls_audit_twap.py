"""Audit 2, defect 3: a paused TWAP entry parent is stopped (REDUCING allows no new exposure), so a resume after
its end time never sweeps the remainder as one market order. Real gateway, paper broker, SQLite and PostgreSQL."""
from __future__ import annotations

from decimal import Decimal as D

from engine.execution.parents import create_parent, work_parents
from engine.execution.slicing import SliceSpec
from engine.store.models import ParentOrder
from engine.trading import control
from engine.trading import state as trading_state
from engine.trading.brokers.base import OrderSide
from engine.trading.state import TradingState
from tests.integration.test_execution_db import bar, buy, ctx, orders  # noqa: F401
from tests.trading_control_fixtures import beat


def parent(c, pid: int) -> ParentOrder:  # type: ignore[no-untyped-def]
    with c.store.read() as s:
        return s.get(ParentOrder, pid)


def test_controls_audit_pause_stops_a_twap_entry_and_resume_sends_no_sweep(ctx) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    # buy 1000 over 500 s in 5 slices: 200 due every 100 s
    pid = create_parent(ctx, "AAA", OrderSide.BUY, D(1000), SliceSpec("twap", 500, 5), "alice", "manual", "p1")
    work_parents(ctx)  # child 1: 200
    bar(ctx, 100, 100, 100, 100, volume=1e6, seconds=100)  # child 1 fills (participation 1)
    beat(ctx.store, ctx.clock.now())
    p = control.perform(ctx, "web:tess", "pause", reason="pause entries", roles={"trader"}, execute="here")
    assert p.status == "done", p.message
    assert parent(ctx, pid).status == "canceled" and "pause" in (parent(ctx, pid).note or "")
    for _ in range(5):  # 500 s paused, ticking: past the parent's end (T0 + 500 s)
        bar(ctx, 100, 100, 100, 100, volume=1e6, seconds=100)
        work_parents(ctx)
    beat(ctx.store, ctx.clock.now())
    r = control.perform(ctx, "web:tess", "resume", reason="back", roles={"trader"}, execute="here")
    assert r.status == "done", r.message
    work_parents(ctx)
    kids = [(o.side, o.qty) for o in orders(ctx, "manual")]
    assert kids == [("buy", D(200))], kids  # only slice 1 (200); never the 800 rest as one market order


def test_controls_audit_reducing_set_directly_stops_an_entry_parent_but_not_an_exit(ctx) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    buy(ctx, 500)
    bar(ctx, 100, 100, 100, 100)  # long 500
    entry = create_parent(ctx, "AAA", OrderSide.BUY, D(1000), SliceSpec("twap", 500, 5), "alice", "manual", "e1")
    exit_ = create_parent(ctx, "AAA", OrderSide.SELL, D(300), SliceSpec("twap", 300, 3), "alice", "manual", "x1")
    with ctx.store.write() as s:  # a risk trigger tightens without the pause command (reconcile, portfolio risk)
        trading_state.change(s, ctx.clock.now(), TradingState.REDUCING, "system:risk", "drawdown")
    work_parents(ctx)
    assert parent(ctx, entry).status == "canceled" and "REDUCING" in (parent(ctx, entry).note or "")
    assert parent(ctx, exit_).status == "active"  # sell 300 of a long 500 only shrinks it: 100 per slice
    assert [(o.side, o.qty) for o in orders(ctx, "manual") if o.side == "sell"] == [("sell", D(100))]
