"""Audit fixes on prices and parents, through the real gateway, paper broker and store (SQLite and PostgreSQL).

A stale symbol behind a fresh feed, a bad close of 0 (or NaN), a position held without bars, and a
sliced parent canceled while its tick sends the next child. Every expected figure is worked out in
the comments."""
from __future__ import annotations

import logging
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from sqlalchemy import select

from engine.clock import ManualClock
from engine.context import EngineContext
from engine.execution.parent_control import cancel_parent
from engine.execution.parents import create_parent, work_parents
from engine.execution.slicing import SliceSpec
from engine.jobs import store_market_update
from engine.market.types import Bar, MarketUpdate
from engine.portfolio_risk.book import read_book
from engine.settings import load_settings
from engine.store.keyvalue import MARKET_DATA_KEY
from engine.store.migrate import open_store
from engine.store.models import BarRow, Instrument, KeyValue, ParentChild, ParentOrder, PositionRow
from engine.trading import state as trading_state
from engine.trading.brokers.base import OrderRequest, OrderSide, OrderStatus, OrderType
from engine.trading.brokers.paper import PaperBroker
from engine.trading.gateway import OrderIntent, submit
from engine.trading.risk_limits import RiskLimits
from engine.trading.sync import sync_from_broker

T0 = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
LOOSE = RiskLimits(max_order_qty=D(10**6), max_order_notional=D(10**9), max_position_notional=D(10**9),
                   max_gross_exposure_pct=D(10**4), price_collar_pct=D(100), stale_data_seconds=300.0)


def build(url: str, tmp_path, source: str = "csv") -> EngineContext:  # type: ignore[no-untyped-def]
    """100,000 of paper cash, no slippage or commission, whole bars fill."""
    store = open_store(url, migrate=True)
    clock = ManualClock(T0)
    broker = PaperBroker(store, clock, D(100_000), D(0), D(0), D(1))
    with store.write() as s:
        trading_state.ensure_state(s, T0)
        for sym in ("AAA", "BBB", "ZZZ"):
            s.add(Instrument(symbol=sym, kind="stock", has_options=False, source="test"))
    ctx = EngineContext(load_settings(database_url=url, market_source=source, csv_dir=tmp_path), store, clock, broker, None)
    sync_from_broker(ctx, LOOSE)
    return ctx


@pytest.fixture()
def ctx(any_db_url, tmp_path):  # type: ignore[no-untyped-def]
    c = build(any_db_url, tmp_path)
    yield c
    c.store.dispose()


def put_bar(ctx: EngineContext, symbol: str, close: float, ts: datetime | None = None, fill: bool = False) -> None:
    ts = ts or ctx.clock.now()
    with ctx.store.write() as s:
        s.add(BarRow(symbol=symbol, ts=ts, open=close, high=close, low=close, close=close, volume=1e6))
    if fill:
        ctx.broker.process_bars([Bar(symbol, ts, close, close, close, close, 1e6)])


def mark_received(ctx: EngineContext, at: datetime) -> None:
    """What the market job writes each tick that brought bars: when they arrived."""
    with ctx.store.write() as s:
        row = s.get(KeyValue, MARKET_DATA_KEY)
        if row is None:
            s.add(KeyValue(key=MARKET_DATA_KEY, value={"ts": at.isoformat(), "cadence_s": 60}, updated_at=at))
        else:
            row.value, row.updated_at = {"ts": at.isoformat(), "cadence_s": 60}, at


def order(side: str, qty: str, symbol: str, key: str, limit: str | None = None) -> OrderIntent:
    return OrderIntent(symbol, OrderSide(side), D(qty), OrderType.LIMIT if limit else OrderType.MARKET,
                       D(limit) if limit else None, reason="test", idempotency_key=key)


# -- 1. the traded symbol's own data age, not the feed's -------------------------------------------

def test_a_symbol_whose_bars_stopped_is_stale_while_the_feed_is_fresh(ctx):
    now = ctx.clock.now()
    put_bar(ctx, "AAA", 100.0)  # keeps arriving
    put_bar(ctx, "BBB", 50.0, ts=now - timedelta(days=2))  # BBB's feed stopped two days ago
    mark_received(ctx, now)  # the market job received AAA's bar just now
    res = submit(ctx, order("buy", "10", "BBB", "b"), "op", "manual", LOOSE)
    # BBB lags the feed's newest bar by 2 days = 172800 s, received 0 s ago: 172800 s > 300 s
    assert not res.accepted and res.check == "stale_data" and "172800s old" in (res.reason or "")
    assert submit(ctx, order("buy", "10", "AAA", "a"), "op", "manual", LOOSE).accepted  # AAA: 0 s old


def test_a_symbol_lagging_the_feed_adds_its_lag_to_the_receipt_age(ctx):
    now = ctx.clock.now()
    put_bar(ctx, "AAA", 100.0, ts=now - timedelta(seconds=60))  # the feed's newest bar opened 60 s ago
    put_bar(ctx, "BBB", 50.0, ts=now - timedelta(seconds=180))  # BBB's last bar: two bars behind
    mark_received(ctx, now - timedelta(seconds=90))
    # BBB: received 90 s ago + lags the newest bar by 180 - 60 = 120 s -> 210 s old; AAA: 90 s old
    res = submit(ctx, order("buy", "1", "BBB", "b200"), "op", "manual", replace(LOOSE, stale_data_seconds=200.0))
    assert res.check == "stale_data" and "210s old" in (res.reason or "")
    assert submit(ctx, order("buy", "1", "BBB", "b220"), "op", "manual",
                  replace(LOOSE, stale_data_seconds=220.0)).accepted
    assert submit(ctx, order("buy", "1", "AAA", "a100"), "op", "manual",
                  replace(LOOSE, stale_data_seconds=100.0)).accepted


def test_replayed_bars_stamped_days_ago_are_fresh_when_every_symbol_keeps_up(ctx):
    """A CSV replay (or daily bars stamped at the session's time): bar times say nothing of the wall clock;
    a symbol is as fresh as the feed while its bars keep up with the newest one."""
    old = ctx.clock.now() - timedelta(days=700)
    put_bar(ctx, "AAA", 100.0, ts=old)
    put_bar(ctx, "BBB", 50.0, ts=old)
    mark_received(ctx, ctx.clock.now() - timedelta(seconds=5))
    assert submit(ctx, order("buy", "10", "BBB", "r"), "op", "manual", LOOSE).accepted



# -- 2. a close of 0 is not a price ------------------------------------------------------------------

def test_a_zero_close_refuses_orders_that_add_exposure(ctx):
    put_bar(ctx, "AAA", 100.0)
    put_bar(ctx, "ZZZ", 100.0)
    ctx.clock.advance(60)
    put_bar(ctx, "ZZZ", 0.0)  # a bad print
    limits = RiskLimits(max_order_notional=D(10_000), max_position_notional=D(20_000), max_gross_exposure_pct=D(100))
    res = submit(ctx, order("buy", "5000", "ZZZ", "z"), "op", "manual", limits)  # 5000 x 0 passed every notional limit
    assert not res.accepted and res.check == "no_valid_price" and "ZZZ" in (res.reason or "")
    res = submit(ctx, order("buy", "50", "ZZZ", "zl", limit="100"), "op", "manual", limits)  # no collar to check it by
    assert res.check == "no_valid_price"
    assert not ctx.broker.list_open_orders()  # nothing reached the broker


def test_a_zero_close_never_blocks_getting_smaller(ctx):
    put_bar(ctx, "ZZZ", 100.0)
    assert submit(ctx, order("buy", "10", "ZZZ", "open"), "op", "manual", LOOSE).accepted
    ctx.clock.advance(60)
    put_bar(ctx, "ZZZ", 100.0, fill=True)
    sync_from_broker(ctx, LOOSE)
    ctx.clock.advance(60)
    put_bar(ctx, "ZZZ", 0.0)
    res = submit(ctx, order("sell", "10", "ZZZ", "close"), "op", "manual", LOOSE)
    assert res.accepted and res.status is OrderStatus.NEW, res.reason  # the gateway and the paper broker let it out


def test_the_paper_broker_rejects_an_order_priced_at_a_zero_close(ctx):
    put_bar(ctx, "ZZZ", 0.0)
    # its buying-power check priced 5000 x 0 = 0: accepted, then filled at the next bar's real price
    got = ctx.broker.submit_order(OrderRequest("c1", "ZZZ", OrderSide.BUY, D(5000), OrderType.MARKET))
    assert got.status is OrderStatus.REJECTED and "no valid price for ZZZ" in (got.reject_reason or "")


def test_the_paper_broker_never_fills_on_a_bar_priced_at_zero(ctx):
    put_bar(ctx, "ZZZ", 100.0)
    got = ctx.broker.submit_order(OrderRequest("c2", "ZZZ", OrderSide.BUY, D(10), OrderType.MARKET))
    assert got.status is OrderStatus.NEW
    ctx.clock.advance(60)
    assert ctx.broker.process_bars([Bar("ZZZ", ctx.clock.now(), 0.0, 0.0, 0.0, 0.0, 1e6)]) == []  # filled at 0 before
    ctx.clock.advance(60)
    fills = ctx.broker.process_bars([Bar("ZZZ", ctx.clock.now(), 101.0, 101.0, 101.0, 101.0, 1e6)])
    assert [(f.qty, f.price) for f in fills] == [(D(10), D(101))]  # the next real bar fills it (no slippage)


def test_storing_a_market_update_drops_closes_that_are_not_prices(ctx, caplog):
    at = ctx.clock.now()
    bars = [Bar("AAA", at, 100.0, 101.0, 99.0, 100.5, 1e3), Bar("BBB", at, 50.0, 50.0, 0.0, 0.0, 1e3),
            Bar("ZZZ", at, 10.0, 10.0, 10.0, math.nan, 1e3), Bar("AAA", at + timedelta(minutes=1), 1.0, 1.0, 1.0, -1.0, 1e3),
            Bar("BBB", at + timedelta(minutes=1), 1.0, 1.0, 1.0, math.inf, 1e3)]
    with caplog.at_level(logging.WARNING, logger="engine.jobs"):
        store_market_update(ctx, MarketUpdate(bars=bars), received_at=at)
    with ctx.store.read() as s:
        stored = [(r.symbol, r.close) for r in s.scalars(select(BarRow).order_by(BarRow.symbol, BarRow.ts))]
    assert stored == [("AAA", 100.5)]
    text = caplog.text
    assert "BBB" in text and "ZZZ" in text and at.isoformat() in text
    assert text.count("dropped") == 4


# -- 3. positions without bars count in gross exposure ---------------------------------------------

def _hold_outside_bars(ctx: EngineContext, market_price: D | None, avg: D) -> None:
    """What a broker sync stores for a position in a symbol the engine has no bars for (bought by hand)."""
    with ctx.store.write() as s:
        s.add(PositionRow(symbol="XYZ", qty=D(1000), avg_entry_price=avg, market_price=market_price,
                          unrealized_pnl=D(0), updated_at=ctx.clock.now()))


@pytest.mark.parametrize(("market_price", "avg"), [(D(150), D(90)), (None, D(150)), (D(0), D(150))])
def test_gross_exposure_counts_a_position_without_bars_at_its_broker_price(ctx, market_price, avg):
    put_bar(ctx, "AAA", 100.0)
    _hold_outside_bars(ctx, market_price, avg)  # 1000 x 150 = 150,000 (the market price, else the entry price)
    limits = replace(LOOSE, max_gross_exposure_pct=D(200))  # cap 200% of 100,000 = 200,000
    res = submit(ctx, order("buy", "1000", "AAA", "g"), "op", "manual", limits)  # 150,000 + 100,000 = 250,000
    assert res.check == "max_gross_exposure" and "would reach 250000.00" in (res.reason or "")
    assert submit(ctx, order("buy", "400", "AAA", "g2"), "op", "manual", limits).accepted  # 150,000 + 40,000


def test_a_position_with_no_price_at_all_refuses_new_exposure_by_name(ctx):
    put_bar(ctx, "AAA", 100.0)
    _hold_outside_bars(ctx, None, D(0))
    res = submit(ctx, order("buy", "10", "AAA", "n"), "op", "manual", LOOSE)
    assert res.check == "no_valid_price" and "cannot value XYZ" in (res.reason or "")


def test_the_risk_book_values_a_position_without_bars_at_its_broker_price(ctx):
    put_bar(ctx, "AAA", 100.0)
    with ctx.store.write() as s:
        s.add(PositionRow(symbol="AAA", qty=D(10), avg_entry_price=D(90), market_price=D(100), unrealized_pnl=D(0),
                          updated_at=T0))
    _hold_outside_bars(ctx, D(150), D(90))
    with ctx.store.read() as s:
        book = read_book(s, equity=100_000.0)
    assert book.symbols == ("AAA", "XYZ")
    assert [float(p) for p in book.price] == [100.0, 150.0] and [float(v) for v in book.values] == [1000.0, 150_000.0]


# -- 4. a canceled parent sends no child -------------------------------------------------------------

TWAP = SliceSpec("twap", duration_s=600, slices=5, limit_offset_bps=D(0))  # 100 in 5 slices of 20, 120 s apart


def _parent_ctx(any_db_url: str, tmp_path) -> tuple[EngineContext, int]:  # type: ignore[no-untyped-def]
    ctx = build(any_db_url, tmp_path, source="simulated")
    put_bar(ctx, "AAA", 100.0)
    pid = create_parent(ctx, "AAA", OrderSide.BUY, D(100), TWAP, "op", "manual", "parent-1")
    assert work_parents(ctx) == ["parent 1: child 1 buy 20 limit 100.00: new"]  # slice 1: 20 shares resting
    ctx.clock.advance(130)  # slice 2 is due (target 40): child 1 is rolled, child 2 would buy 40
    return ctx, pid


def _open_at_broker(ctx: EngineContext) -> list[tuple[str, D]]:
    return [(o.symbol, o.qty) for o in ctx.broker.list_open_orders()]


def test_a_parent_canceled_during_its_tick_sends_no_further_child(any_db_url, tmp_path):
    ctx, pid = _parent_ctx(any_db_url, tmp_path)
    real_cancel = ctx.broker.cancel_order

    def cancel_and_operator(broker_order_id: str) -> None:  # the operator cancels while the tick rolls child 1
        real_cancel(broker_order_id)
        ctx.broker.cancel_order = real_cancel  # type: ignore[method-assign]  # once
        assert "parent 1 canceled" in cancel_parent(ctx, pid, "trader1")

    ctx.broker.cancel_order = cancel_and_operator  # type: ignore[method-assign]  # hook the roll's cancel
    work_parents(ctx)
    with ctx.store.read() as s:
        assert s.get(ParentOrder, pid).status == "canceled"
        assert [c.seq for c in s.scalars(select(ParentChild).where(ParentChild.parent_id == pid))] == [1]
    assert _open_at_broker(ctx) == []  # no 40-share child left that nothing owns
    ctx.store.dispose()


def test_a_child_sent_as_its_parent_is_canceled_is_canceled(any_db_url, tmp_path):
    ctx, pid = _parent_ctx(any_db_url, tmp_path)
    real_submit = ctx.broker.submit_order

    def operator_then_submit(request: OrderRequest):  # type: ignore[no-untyped-def]
        # the parent is canceled after child 2 was linked and recorded, while its POST is on the wire:
        # cancel_parent finds nothing at the broker to cancel yet
        ctx.broker.submit_order = real_submit  # type: ignore[method-assign]  # once
        assert "0 of 1 working" in cancel_parent(ctx, pid, "trader1")
        return real_submit(request)

    ctx.broker.submit_order = operator_then_submit  # type: ignore[method-assign]  # hook child 2's send
    lines = work_parents(ctx)
    assert any("child 2" in line and "canceled" in line for line in lines), lines
    assert _open_at_broker(ctx) == []  # the 40 shares sent just as the parent stopped are canceled too
    ctx.store.dispose()
