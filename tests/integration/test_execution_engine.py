"""The engine's own market job checks protective stops and works sliced parents (engine/cycle.py), with the
simulated market, the paper broker and the real gateway, on SQLite and PostgreSQL."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from engine import jobs
from engine.cycle import EngineCycle
from engine.execution.parents import create_parent
from engine.execution.protect import attach_stop
from engine.execution.slicing import SliceSpec
from engine.execution.stops import StopSpec
from engine.runtime import build_context
from engine.settings import load_settings
from engine.store.models import Instrument, JobRun, OrderRow, ParentOrder, PositionRow, ProtectiveStop
from engine.trading.brokers.base import OrderRequest, OrderSide


def test_the_market_job_runs_stops_and_parents(any_db_url) -> None:
    ctx = build_context(load_settings(database_url=any_db_url, warmup_polls=60, autotrade=False, deadman_seconds=0),
                        with_source=True, migrate=True)
    try:
        cycle = EngineCycle()
        jobs.ensure_instruments(ctx)
        jobs.resume_source(ctx, 60)
        cycle.startup(ctx)
        with ctx.store.read() as s:
            held, sliced = list(s.scalars(select(Instrument.symbol).where(Instrument.kind == "stock")))[:2]
        ctx.broker.submit_order(OrderRequest("setup-buy", held, OrderSide.BUY, Decimal(40)))
        cycle.market(ctx)  # fills at the next bar
        cycle.account(ctx)
        with ctx.store.read() as s:
            assert s.get(PositionRow, held).qty == Decimal(40)
        attach_stop(ctx, held, StopSpec(max_hold_seconds=90), "test")  # the simulated market moves 1 min a tick
        parent = create_parent(ctx, sliced, OrderSide.BUY, Decimal(30), SliceSpec("twap", 360, 3), "test", "manual",
                               "engine-parent")
        for _ in range(7):  # 7 simulated minutes
            cycle.market(ctx)
            cycle.account(ctx)
        with ctx.store.read() as s:
            exits = list(s.scalars(select(OrderRow).where(OrderRow.origin == "stop")))
            stop = s.scalars(select(ProtectiveStop)).one()
            pos = s.get(PositionRow, held)
            row = s.get(ParentOrder, parent)
            children = list(s.scalars(select(OrderRow).where(OrderRow.symbol == sliced, OrderRow.origin == "manual")))
            runs = list(s.scalars(select(JobRun.outcome).where(JobRun.job == "execution")))
        assert [(o.side, o.qty, o.status) for o in exits] == [("sell", Decimal(40), "filled")]
        assert stop.status == "done" and stop.trigger_kind == "time" and (pos is None or pos.qty == 0)
        assert [o.qty for o in children] == [Decimal(10), Decimal(10), Decimal(10)]
        assert row.status == "done" and row.filled_qty == Decimal(30)
        assert runs and set(runs) == {"ok"}
    finally:
        ctx.store.dispose()
