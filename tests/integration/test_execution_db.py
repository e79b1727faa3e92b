"""Protective stops, sliced parents, the throttle and the kill switch through the real gateway and paper broker,
on SQLite and PostgreSQL. The market is driven bar by bar on a manual clock; every expected quantity and
price is worked out in the comments."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest
from sqlalchemy import select

from engine.clock import ManualClock
from engine.context import EngineContext
from engine.execution.parent_control import ParentError, cancel_parent
from engine.execution.parents import create_parent, work_parents
from engine.execution.protect import attach_stop, cancel_stop, check_stops
from engine.execution.slicing import SliceSpec
from engine.execution.stops import StopError, StopSpec
from engine.market.types import Bar
from engine.settings import load_settings
from engine.store.migrate import open_store
from engine.store.models import (
    AuditEvent,
    BarRow,
    Instrument,
    OrderRow,
    ParentChild,
    ParentOrder,
    ProtectiveStop,
)
from engine.trading import control
from engine.trading import state as trading_state
from engine.trading.brokers.base import OrderSide, OrderType
from engine.trading.brokers.paper import PaperBroker
from engine.trading.gateway import OrderIntent, submit
from engine.trading.risk_limits import RiskLimits
from engine.trading.state import TradingState
from engine.trading.sync import sync_from_broker

T0 = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
LIMITS = RiskLimits(max_order_qty=D(10**6), max_order_notional=D(10**9), max_position_notional=D(10**9),
                    max_gross_exposure_pct=D(10**4))


def build(url: str, tmp_path, participation: str = "1", **settings: object) -> EngineContext:  # type: ignore[no-untyped-def]
    store = open_store(url, migrate=True)
    clock = ManualClock(T0)
    broker = PaperBroker(store, clock, D(10_000_000), D(0), D(0), D(participation))
    with store.write() as s:
        trading_state.ensure_state(s, T0)
        s.add(Instrument(symbol="AAA", kind="stock", has_options=False, source="test"))
        s.add(BarRow(symbol="AAA", ts=T0, open=100, high=100, low=100, close=100, volume=1e6))
    cfg = load_settings(database_url=url, market_source="csv", csv_dir=tmp_path, **settings)
    ctx = EngineContext(cfg, store, clock, broker, None)
    sync_from_broker(ctx, LIMITS)
    return ctx


@pytest.fixture()
def ctx(any_db_url, tmp_path):  # type: ignore[no-untyped-def]
    c = build(any_db_url, tmp_path)
    yield c
    c.store.dispose()


def bar(ctx: EngineContext, o: float, h: float, lo: float, c: float, volume: float = 1e6, seconds: int = 60) -> Bar:
    """One new bar: stored, matched by the paper broker, and the store synced (what a market tick + sync do)."""
    ctx.clock.advance(seconds)
    b = Bar("AAA", ctx.clock.now(), o, h, lo, c, volume)
    with ctx.store.write() as s:
        s.add(BarRow(symbol="AAA", ts=b.ts, open=o, high=h, low=lo, close=c, volume=volume))
    ctx.broker.process_bars([b])
    sync_from_broker(ctx, LIMITS)
    return b


def buy(ctx: EngineContext, qty: int) -> None:
    assert submit(ctx, OrderIntent("AAA", OrderSide.BUY, D(qty), idempotency_key=f"buy-{qty}"), "t", "manual",
                  LIMITS).accepted
    bar(ctx, 100, 100, 100, 100)  # fills at the open, 100 (no slippage in these tests)


def orders(ctx: EngineContext, origin: str) -> list[OrderRow]:
    with ctx.store.read() as s:
        return list(s.scalars(select(OrderRow).where(OrderRow.origin == origin).order_by(OrderRow.id)))


def audits(ctx: EngineContext, action: str) -> list[AuditEvent]:
    with ctx.store.read() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def stop_row(ctx: EngineContext) -> ProtectiveStop:
    with ctx.store.read() as s:
        return s.scalars(select(ProtectiveStop).order_by(ProtectiveStop.id.desc())).first()


def test_trailing_stop_exits_through_the_gateway_and_the_paper_broker(ctx):
    with pytest.raises(StopError, match="no open position"):
        attach_stop(ctx, "AAA", StopSpec(trail_pct=D(10)), "alice")
    buy(ctx, 100)
    attach_stop(ctx, "AAA", StopSpec(trail_pct=D(10)), "alice")
    assert check_stops(ctx, [bar(ctx, 100, 110, 100, 109)]) == []  # level 90 -> mark 110
    assert stop_row(ctx).extreme_price == D(110)
    events = check_stops(ctx, [bar(ctx, 105, 106, 98, 100)])  # level 99: low 98 reaches it
    assert [e.what for e in events] == ["triggered"]
    exit_order = orders(ctx, "stop")[0]
    assert (exit_order.side, exit_order.qty, exit_order.order_type, exit_order.actor) == ("sell", D(100), "market",
                                                                                          "system:stops")
    bar(ctx, 99, 99, 97, 98)  # the exit fills at the next open, 99
    assert orders(ctx, "stop")[0].filled_avg_price == D(99)
    assert [e.what for e in check_stops(ctx, [])] == ["done"] and stop_row(ctx).status == "done"
    assert audits(ctx, "stop.set")[0].actor == "alice" and len(audits(ctx, "stop.triggered")) == 1


def test_halted_blocks_the_stop_audited_and_reducing_lets_it_out(ctx):
    buy(ctx, 50)
    attach_stop(ctx, "AAA", StopSpec(stop_loss_pct=D(5)), "alice")  # level 95
    with ctx.store.write() as s:
        trading_state.change(s, ctx.clock.now(), TradingState.HALTED, "bob", "kill switch")
    assert [e.what for e in check_stops(ctx, [bar(ctx, 96, 96, 90, 91)])] == ["blocked"]
    refused = orders(ctx, "stop")
    assert len(refused) == 1 and refused[0].status == "rejected" and refused[0].reject_reason.startswith("trading_state")
    assert len(audits(ctx, "stop.blocked")) == 1
    assert check_stops(ctx, [bar(ctx, 91, 92, 90, 91)]) == [] and len(orders(ctx, "stop")) == 1  # waits, no spam
    with ctx.store.write() as s:
        trading_state.change(s, ctx.clock.now(), TradingState.REDUCING, "bob", "let exits out")
    assert [e.what for e in check_stops(ctx, [])] == ["triggered"]
    sent = orders(ctx, "stop")[-1]
    assert sent.status == "new" and sent.qty == D(50) and stop_row(ctx).attempts == 2


def test_time_stop_and_a_removed_stop(ctx):
    buy(ctx, 10)
    attach_stop(ctx, "AAA", StopSpec(max_hold_seconds=150), "alice")  # attached at T0+60
    assert check_stops(ctx, [bar(ctx, 100, 101, 99, 100)]) == []  # T0+120: held 60 s
    assert [e.what for e in check_stops(ctx, [bar(ctx, 100, 101, 99, 100, seconds=90)])] == ["triggered"]  # 150 s
    assert cancel_stop(ctx, "AAA", "alice") == 1 and stop_row(ctx).status == "canceled"


def test_twap_parent_with_partial_fills_rolls_the_rest_into_the_next_child(any_db_url, tmp_path):
    ctx = build(any_db_url, tmp_path, participation="0.25")
    try:
        # 1000 shares over 500 s in 5 slices: cumulative targets 200, 400, 600, 800, 1000 every 100 s
        pid = create_parent(ctx, "AAA", OrderSide.BUY, D(1000), SliceSpec("twap", 500, 5), "alice", "manual", "p1")
        assert create_parent(ctx, "AAA", OrderSide.BUY, D(1000), SliceSpec("twap", 500, 5), "alice", "manual",
                             "p1") == pid  # idempotent
        work_parents(ctx)  # slice 0: child 1 of 200
        bar(ctx, 100, 100, 100, 100, volume=400, seconds=100)  # 25% of 400 = 100 filled of 200
        work_parents(ctx)  # slice 1 (target 400): child 1 canceled (100 left), child 2 = 400 - 100 = 300
        kids = orders(ctx, "manual")
        assert [(k.qty, k.filled_qty, k.status) for k in kids] == [(D(200), D(100), "canceled"), (D(300), D(0), "new")]
        for _ in range(3):
            bar(ctx, 100, 100, 100, 100, volume=10_000, seconds=100)
            work_parents(ctx)
        bar(ctx, 100, 100, 100, 100, volume=10_000, seconds=100)  # past the end: everything filled
        work_parents(ctx)
        kids = orders(ctx, "manual")
        assert sum(k.filled_qty for k in kids) == D(1000)
        assert [k.qty for k in kids] == [D(200), D(300), D(200), D(200), D(200)]
        with ctx.store.read() as s:
            parent = s.get(ParentOrder, pid)
            links = list(s.scalars(select(ParentChild.client_order_id).where(ParentChild.parent_id == pid)))
        assert parent.status == "done" and parent.filled_qty == D(1000)
        assert sorted(links) == sorted(k.client_order_id for k in kids)
    finally:
        ctx.store.dispose()


def test_cancel_a_parent_as_one(ctx):
    # limit children 10 bps through the last price (100.10) rest while no bar comes
    pid = create_parent(ctx, "AAA", OrderSide.BUY, D(600), SliceSpec("twap", 300, 3, limit_offset_bps=D(10)),
                        "alice", "manual", "p2")
    work_parents(ctx)
    child = orders(ctx, "manual")[0]
    assert (child.qty, child.order_type, child.limit_price) == (D(200), "limit", D("100.10"))
    assert "1 of 1 working" in cancel_parent(ctx, pid, "alice")
    assert not ctx.broker.list_open_orders() and orders(ctx, "manual")[0].status == "canceled"
    ctx.clock.advance(200)
    assert work_parents(ctx) == [] and len(orders(ctx, "manual")) == 1
    with pytest.raises(ParentError, match="already canceled"):
        cancel_parent(ctx, pid, "alice")


def test_kill_switch_stops_live_parents_and_cancels_their_children(ctx):
    ids = [create_parent(ctx, "AAA", side, D(900), SliceSpec("twap", 900, 3, limit_offset_bps=D(5)), "alice",
                         "manual", f"k{side}") for side in (OrderSide.BUY, OrderSide.SELL)]
    buy_pos = submit(ctx, OrderIntent("AAA", OrderSide.BUY, D(2000), idempotency_key="pos"), "t", "manual", LIMITS)
    assert buy_pos.accepted
    bar(ctx, 100, 100, 100, 100, volume=1e6, seconds=1)  # the position fills; no child sent yet
    work_parents(ctx)
    assert len(ctx.broker.list_open_orders()) == 2
    result = control.perform(ctx, "alice", "halt", reason="test", execute="here")
    assert result.status == "done", result
    assert not ctx.broker.list_open_orders()
    with ctx.store.read() as s:
        assert {s.get(ParentOrder, i).status for i in ids} == {"canceled"}
    with ctx.store.write() as s:
        trading_state.change(s, ctx.clock.now(), TradingState.ACTIVE, "alice", "resume")
    ctx.clock.advance(400)
    assert work_parents(ctx) == []
    assert "stopped 2 sliced parent" in str(result.steps)


def test_the_throttle_holds_a_burst_in_the_real_gateway(any_db_url, tmp_path, monkeypatch):
    from engine.execution import throttle
    from engine.trading import gateway

    ctx = build(any_db_url, tmp_path, order_rate_per_second=5, order_burst=2, order_throttle_max_wait_s=0.3)
    fake = {"t": 0.0, "slept": 0.0}
    bucket = throttle.TokenBucket(5, 2, monotonic=lambda: fake["t"], sleep=lambda s: fake.__setitem__("slept",
                                                                                                     fake["slept"] + s))
    monkeypatch.setattr(gateway, "bucket_for", lambda broker, config: bucket)
    try:
        out = [submit(ctx, OrderIntent("AAA", OrderSide.BUY, D(1), idempotency_key=f"b{i}"), "t", "manual", LIMITS)
               for i in range(4)]
        # no time passes: 2 from the bucket, the 3rd waits 0.2 s, the 4th would wait 0.4 s > 0.3 s: refused
        assert [r.accepted for r in out] == [True, True, True, False] and fake["slept"] == pytest.approx(0.2)
        assert out[3].check == "order_throttle" and "5 orders/s" in (out[3].reason or "")
        rejected = [o for o in orders(ctx, "manual") if o.status == "rejected"]
        assert len(rejected) == 1 and rejected[0].reject_reason.startswith("order_throttle")
        # a protective exit is never refused by the throttle: it waits (0.4 s for a bucket 1 token in debt)
        buy_fill = bar(ctx, 100, 100, 100, 100)
        assert buy_fill is not None
        assert submit(ctx, OrderIntent("AAA", OrderSide.SELL, D(1), idempotency_key="x"), "system:stops", "stop",
                      LIMITS).accepted
    finally:
        ctx.store.dispose()


def test_a_stop_exit_is_resent_only_when_it_ended_unfilled(ctx):
    buy(ctx, 20)
    attach_stop(ctx, "AAA", StopSpec(stop_loss_pct=D(5)), "alice")
    assert [e.what for e in check_stops(ctx, [bar(ctx, 96, 96, 94, 95)])] == ["triggered"]  # exit 1 working
    assert check_stops(ctx, []) == []  # working: nothing new
    first = orders(ctx, "stop")[0]
    control.perform(ctx, "bob", "cancel_order", order_id=str(first.id), execute="here")  # someone cancels it
    assert [e.what for e in check_stops(ctx, [])] == ["triggered"]  # the position is still there: sent again
    second = orders(ctx, "stop")[-1]
    assert second.id != first.id and second.qty == D(20)
    # filled at the broker but the store's position not synced yet: never a second exit
    ctx.clock.advance(60)
    b = Bar("AAA", ctx.clock.now(), 95, 95, 95, 95, 1e6)
    with ctx.store.write() as s:
        s.add(BarRow(symbol="AAA", ts=b.ts, open=95, high=95, low=95, close=95, volume=1e6))
    ctx.broker.process_bars([b])
    with ctx.store.write() as s:  # what a sync half-way through would show: the order filled, the position not
        s.get(OrderRow, second.id).status = "filled"
    assert check_stops(ctx, []) == [] and len(orders(ctx, "stop")) == 2
    sync_from_broker(ctx, LIMITS)
    assert [e.what for e in check_stops(ctx, [])] == ["done"]


def test_participation_parent_follows_market_volume(ctx):
    # 10% of the volume traded since the start, at most 500 shares
    pid = create_parent(ctx, "AAA", OrderSide.BUY, D(500), SliceSpec("pov", 3600, participation=D("0.1")), "alice",
                        "manual", "pov1")
    assert work_parents(ctx) == []  # no volume yet: nothing to do
    bar(ctx, 100, 100, 100, 100, volume=1_200)  # 10% of 1,200 = 120
    work_parents(ctx)
    bar(ctx, 100, 100, 100, 100, volume=2_000)  # child 1 fills; target 10% of 3,200 = 320 -> child 2 of 200
    work_parents(ctx)
    assert [o.qty for o in orders(ctx, "manual")] == [D(120), D(200)]
    bar(ctx, 100, 100, 100, 100, volume=50_000)  # target capped at 500: child 3 of 180 once child 2 filled
    work_parents(ctx)
    bar(ctx, 100, 100, 100, 100, volume=1_000)
    work_parents(ctx)
    assert [o.qty for o in orders(ctx, "manual")] == [D(120), D(200), D(180)]
    with ctx.store.read() as s:
        assert (s.get(ParentOrder, pid).status, s.get(ParentOrder, pid).filled_qty) == ("done", D(500))


def test_migration_0009_downgrades_and_upgrades(any_db_url):
    from alembic import command
    from sqlalchemy import inspect

    from engine.store.check import alembic_config
    from engine.store.migrate import upgrade_to_head

    store = open_store(any_db_url, migrate=True)
    tables = {"protective_stops", "parent_orders", "parent_order_children"}
    try:
        assert tables <= set(inspect(store.engine).get_table_names())
        cfg = alembic_config()
        with store.engine.connect() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0008")
            conn.commit()
        assert not tables & set(inspect(store.engine).get_table_names())
        upgrade_to_head(store)
        assert tables <= set(inspect(store.engine).get_table_names())
    finally:
        store.dispose()


def test_a_child_filled_before_the_sync_is_never_sent_again(ctx):
    create_parent(ctx, "AAA", OrderSide.BUY, D(300), SliceSpec("twap", 300, 3), "alice", "manual", "race")
    work_parents(ctx)  # child 1 of 100
    ctx.clock.advance(100)  # the next slice is due; the broker fills child 1, the store has not synced yet
    b = Bar("AAA", ctx.clock.now(), 100, 100, 100, 100, 1e6)
    with ctx.store.write() as s:
        s.add(BarRow(symbol="AAA", ts=b.ts, open=100, high=100, low=100, close=100, volume=1e6))
    ctx.broker.process_bars([b])
    work_parents(ctx)  # the cancel of child 1 fails (filled): it counts whole, child 2 is 200 - 100 = 100
    assert [o.qty for o in orders(ctx, "manual")] == [D(100), D(100)]


def test_send_trade_immediate_small_or_sliced(ctx):
    from engine.execution.modes import ExecutionMode, send_trade

    sliced = ExecutionMode(SliceSpec("twap", 600, 4), min_notional=D(50_000))
    small = OrderIntent("AAA", OrderSide.BUY, D(100), idempotency_key="c1")  # 100 x 100 = 10,000 < 50,000
    kind, result = send_trade(ctx, small, "system:planner", "planner", sliced, D(100), LIMITS)
    assert kind == "order" and result.accepted
    big = OrderIntent("AAA", OrderSide.BUY, D(1000), idempotency_key="c1")  # 100,000: worked as a parent
    kind, pid = send_trade(ctx, big, "system:planner", "planner", sliced, D(100), LIMITS)
    assert kind == "parent" and send_trade(ctx, big, "system:planner", "planner", sliced, D(100), LIMITS)[1] == pid
    with ctx.store.read() as s:
        parent = s.get(ParentOrder, pid)
        assert (parent.qty, parent.mode, parent.origin, [q for _t, q in parent.schedule]) == \
            (D(1000), "twap", "planner", ["250", "500", "750", "1000"])
    kind, _ = send_trade(ctx, big, "system:planner", "planner", ExecutionMode(None), D(100), LIMITS)
    assert kind == "order"


def test_preset_default_stops_attach_once_and_respect_a_removal(ctx):
    from engine.execution.protect import attach_defaults

    buy(ctx, 30)
    spec = StopSpec(trail_pct=D(12))
    assert attach_defaults(ctx, spec) == 1 and attach_defaults(ctx, spec) == 0
    assert (stop_row(ctx).source, stop_row(ctx).actor) == ("preset", "system:stops")
    cancel_stop(ctx, "AAA", "alice")
    assert attach_defaults(ctx, spec) == 0  # the trader removed it: not put back


def test_a_stop_cancels_the_orders_in_its_way_and_exits_the_whole_position(ctx):
    """Long 100 with a 5% stop-loss (level 95) and a take-profit limit sell 50 at 104 resting. Before, the exit
    (sell 100) was refused as a flip (100 - 50 resting - 100 = -50) on every tick until the stop failed, leaving
    the position unprotected. Now the stop cancels the resting sell, then sells the whole 100."""
    buy(ctx, 100)
    attach_stop(ctx, "AAA", StopSpec(stop_loss_pct=D(5)), "alice")
    take_profit = submit(ctx, OrderIntent("AAA", OrderSide.SELL, D(50), order_type=OrderType.LIMIT,
                                          limit_price=D(104), idempotency_key="tp"), "t", "manual", LIMITS)
    assert take_profit.accepted
    events = check_stops(ctx, [bar(ctx, 94, 94, 93, 93)])  # opens below 95: triggered
    assert [e.what for e in events] == ["triggered"] and events[0].detail.endswith("sell 100")
    assert [(o.side, o.qty, o.status) for o in orders(ctx, "manual")][-1] == ("sell", D(50), "canceled")
    bar(ctx, 92, 92, 91, 91)  # the exit fills at the next open, 92
    assert [(o.qty, o.status, o.filled_avg_price) for o in orders(ctx, "stop")] == [(D(100), "filled", D(92))]
    assert ctx.broker.get_positions() == [] and [e.what for e in check_stops(ctx, [])] == ["done"]


def test_a_stop_whose_position_the_cancelled_orders_closed_is_done(ctx):
    """Long 100 and a sell limit 100 at 94 resting. The bar that triggers the stop (open 94) fills the limit at 94
    in the paper broker before the sync has told the store: the stored position still reads 100 and the limit
    reads open. Before, the stop sold another 100 (a short 100: the flip check saw 100 - 100 resting = 0 before
    the exit). Now its cancel is refused (already filled), the sync finds the position flat: the stop is done."""
    buy(ctx, 100)
    attach_stop(ctx, "AAA", StopSpec(stop_loss_pct=D(5)), "alice")
    wide_collar = replace(LIMITS, price_collar_pct=D(10))  # 94 is 6% under the last price, 100
    assert submit(ctx, OrderIntent("AAA", OrderSide.SELL, D(100), order_type=OrderType.LIMIT, limit_price=D(94),
                                   idempotency_key="lim"), "t", "manual", wide_collar).accepted
    ctx.clock.advance(60)
    crash = Bar("AAA", ctx.clock.now(), 94, 94, 93, 93, 1e6)
    with ctx.store.write() as s:
        s.add(BarRow(symbol="AAA", ts=crash.ts, open=94, high=94, low=93, close=93, volume=1e6))
    ctx.broker.process_bars([crash])  # the broker's books move; the store is not synced yet
    assert [e.what for e in check_stops(ctx, [crash])] == ["done"]
    assert orders(ctx, "stop") == [] and ctx.broker.get_positions() == []
