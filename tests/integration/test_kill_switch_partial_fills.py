"""The kill switch run by the web or the CLI with the engine down, with partially filled orders
(issue 9): the store ends equal to the broker (true filled quantities, positions), and the result
says how many orders were partially filled and which positions remain. SQLite and PostgreSQL."""
from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from engine.market.types import Bar
from engine.store.models import BarRow, FillRow, OrderRow, PositionRow
from engine.trading import cli, control
from engine.trading.brokers.base import OrderRequest, OrderSide, OrderType
from engine.trading.brokers.paper import PaperBroker
from engine.trading.control import SimpleControlContext
from engine.trading.sync import sync_from_broker
from tests.trading_control_fixtures import T0, beat, make_ctx, open_position

PARTICIPATION = Decimal("0.0001")  # a bar of 1,240,000 shares lets one order fill 124


def _record_and_send(ctx: SimpleControlContext, coid: str, symbol: str, qty: int, limit: Decimal | None = None,
                     ) -> None:
    """What the gateway does: record the order, send it, store the broker's answer (status new)."""
    now = ctx.clock.now()
    kind = OrderType.LIMIT if limit else OrderType.MARKET
    order = ctx.broker.submit_order(OrderRequest(coid, symbol, OrderSide.BUY, Decimal(qty), kind, limit))
    with ctx.store.write() as s:
        s.add(OrderRow(client_order_id=coid, broker_order_id=order.broker_order_id, symbol=symbol, side="buy",
                       qty=Decimal(qty), order_type=kind.value, limit_price=limit, status="new", origin="planner",
                       actor="test", param_version_id=None, created_at=now, updated_at=now))


def _bar(ctx: SimpleControlContext, symbol: str, volume: int) -> Bar:
    with ctx.store.read() as s:
        n = len(list(s.scalars(select(BarRow.id).where(BarRow.symbol == symbol))))
    bar = Bar(symbol, T0 + timedelta(minutes=n), 100.0, 101.0, 99.0, 100.0, volume)
    with ctx.store.write() as s:
        s.add(BarRow(symbol=symbol, ts=bar.ts, open=bar.open, high=bar.high, low=bar.low, close=bar.close,
                     volume=bar.volume))
    return bar


def _setup(tmp_path, url: str) -> SimpleControlContext:
    ctx = make_ctx(tmp_path, url=url)
    open_position(ctx, "AAA", 100)  # filled in full (participation 1) before the engine died
    sync_from_broker(ctx)  # the engine's last sync: the store knows AAA 100
    broker = PaperBroker(ctx.store, ctx.clock, starting_cash=Decimal(10_000_000), slippage_bps=Decimal(0),
                         commission_per_share=Decimal(0), participation=PARTICIPATION)
    ctx = SimpleControlContext(store=ctx.store, clock=ctx.clock, broker=broker)
    _record_and_send(ctx, "big-aaa", "AAA", 128)
    _record_and_send(ctx, "big-bbb", "BBB", 72)
    _record_and_send(ctx, "idle-aaa", "AAA", 10, Decimal(50))  # a limit far below the market: never fills
    # the broker fills part of them after the engine's last sync: 124 of AAA's bar cap, 26 of BBB's
    broker.process_bars([_bar(ctx, "AAA", 1_240_000), _bar(ctx, "BBB", 260_000)])
    beat(ctx.store, ctx.clock.now() - timedelta(minutes=2))  # the engine's last beat: it is down
    return ctx


def _assert_store_equals_broker(ctx: SimpleControlContext) -> None:
    with ctx.store.read() as s:
        orders = {r.client_order_id: (r.status, r.filled_qty) for r in s.scalars(select(OrderRow))}
        positions = {p.symbol: p.qty for p in s.scalars(select(PositionRow)) if p.qty != 0}
        fills = {(f.client_order_id, f.qty) for f in s.scalars(select(FillRow))}
    assert orders["big-aaa"] == ("canceled", Decimal(124))
    assert orders["big-bbb"] == ("canceled", Decimal(26))
    assert orders["idle-aaa"] == ("canceled", Decimal(0))
    assert positions == {"AAA": Decimal(224), "BBB": Decimal(26)}
    assert {("big-aaa", Decimal(124)), ("big-bbb", Decimal(26))} <= fills
    broker_positions = {p.symbol: p.qty for p in ctx.broker.get_positions()}
    assert broker_positions == positions
    assert ctx.broker.list_open_orders() == []


def test_web_kill_switch_with_the_engine_down_syncs_partial_fills(tmp_path, any_db_url):
    ctx = _setup(tmp_path, any_db_url)
    result = control.perform(ctx, "web:alice", "halt", reason="engine down", handoff_s=0.2)
    assert result.status == "done", result.message
    assert [s.name for s in result.steps] == ["halt", "cancel_orders", "sync_broker"]
    _assert_store_equals_broker(ctx)
    assert "2 order(s) partially filled (AAA buy 124/128, BBB buy 26/72)" in result.message
    assert "positions remain: AAA 224, BBB 26" in result.message
    ctx.store.dispose()


def test_cli_kill_switch_with_the_engine_down_prints_partial_fills(tmp_path, any_db_url):
    ctx = _setup(tmp_path, any_db_url)
    out = io.StringIO()
    code = cli.main(["halt", "--reason", "engine down (cli)"], ctx=ctx, out=out)
    text = out.getvalue()
    assert code == 0, text
    _assert_store_equals_broker(ctx)
    assert "2 order(s) partially filled" in text and "positions remain: AAA 224, BBB 26" in text
    ctx.store.dispose()
