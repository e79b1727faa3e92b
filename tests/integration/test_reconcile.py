"""Reconciliation against the paper broker on SQLite and PostgreSQL: planted differences are found and act."""
from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import delete, select

from engine.clock import ManualClock
from engine.context import EngineContext
from engine.settings import load_settings
from engine.store.migrate import open_store
from engine.store.models import (
    BarRow,
    Base,
    FillRow,
    PaperAccount,
    PaperOrder,
    PaperPosition,
    ReconciliationRun,
)
from engine.trading import state as trading_state
from engine.trading.brokers.base import OrderSide, OrderStatus, OrderType
from engine.trading.brokers.paper import PaperBroker
from engine.trading.gateway import OrderIntent, submit
from engine.trading.reconcile import accept_broker_truth, last_run, reconcile
from engine.trading.risk_limits import RiskLimits
from engine.trading.state import TradingState
from engine.trading.sync import sync_from_broker

T0 = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
D = Decimal
LIMITS = RiskLimits(reconciliation_tolerance=D(1))


@pytest.fixture()
def ctx(any_db_url, tmp_path) -> EngineContext:
    url = any_db_url
    store = open_store(url, migrate=True)
    Base.metadata.create_all(store.engine)  # reconciliation_runs until the migration is regenerated
    clock = ManualClock(T0)
    broker = PaperBroker(store, clock, D(100_000), D(0), D("0.01"), D(1))
    with store.write() as s:
        trading_state.ensure_state(s, T0)
    c = EngineContext(load_settings(database_url=url, market_source="csv", csv_dir=tmp_path), store, clock, broker, None)
    tick(c, {"AAA": 100.0, "BBB": 20.0})
    yield c
    store.dispose()


def tick(c: EngineContext, prices: dict[str, float]) -> None:
    c.clock.advance(60)
    now = c.clock.now()
    with c.store.write() as s:
        for sym, px in prices.items():
            s.add(BarRow(symbol=sym, ts=now, open=px, high=px + 1, low=px - 1, close=px, volume=1e6))
    from engine.market.types import Bar

    c.broker.process_bars([Bar(sym, now, px, px + 1, px - 1, px, 1e6) for sym, px in prices.items()])


def buy(c: EngineContext, symbol: str, qty: str, key: str) -> None:
    res = submit(c, OrderIntent(symbol, OrderSide.BUY, D(qty), OrderType.MARKET, None, "t", key), "op", "manual",
                 RiskLimits(max_order_qty=D(10**6), max_order_notional=D(10**9), max_position_notional=D(10**9)))
    assert res.accepted, res.reason


def state(c: EngineContext) -> trading_state.StateSnapshot:
    with c.store.read() as s:
        return trading_state.current(s)


def test_clean_books_reconcile_and_runs_are_stored(ctx):
    first = reconcile(ctx, LIMITS, retry_delay_s=0)
    assert first.ok and first.baseline_adopted
    sync_from_broker(ctx, LIMITS)
    buy(ctx, "AAA", "100", "a")
    buy(ctx, "BBB", "50", "b")
    tick(ctx, {"AAA": 101.0, "BBB": 21.0})
    report = reconcile(ctx, LIMITS, retry_delay_s=0)
    assert report.ok and not report.baseline_adopted, report.differences
    with ctx.store.read() as s:
        assert [r.ok for r in s.scalars(select(ReconciliationRun).order_by(ReconciliationRun.id))] == [True, True]
    assert state(ctx).state is TradingState.ACTIVE


def test_planted_position_difference_is_found_and_triggers_reducing(ctx):
    reconcile(ctx, LIMITS, retry_delay_s=0)
    sync_from_broker(ctx, LIMITS)
    buy(ctx, "AAA", "100", "a")
    tick(ctx, {"AAA": 100.0})
    assert reconcile(ctx, LIMITS, retry_delay_s=0).ok
    with ctx.store.write() as s:  # a trade the engine never saw: the broker now holds 130
        s.get(PaperPosition, "AAA").qty = D(130)
    report = reconcile(ctx, LIMITS, retry_delay_s=0)
    assert not report.ok and report.triggered
    [diff] = report.differences
    assert (diff.kind, diff.key, diff.store, diff.broker, diff.value) == ("position", "AAA", "100", "130", D(3000))
    snap = state(ctx)
    assert snap.state is TradingState.REDUCING and snap.changed_by == "system:reconcile"
    assert "reconciliation" in snap.reason
    with ctx.store.read() as s:
        run = last_run(s)
        assert run.ok is False and run.differences[0]["kind"] == "position"


def test_missed_fill_and_cash_difference(ctx):
    reconcile(ctx, LIMITS, retry_delay_s=0)
    sync_from_broker(ctx, LIMITS)
    buy(ctx, "BBB", "10", "b")
    tick(ctx, {"BBB": 20.0})
    ctx.clock.advance(60)
    sync_from_broker(ctx, LIMITS)
    with ctx.store.write() as s:
        s.execute(delete(FillRow))  # the store lost the fill (and will not re-read it: sync only looks back a bit)
        s.get(PaperAccount, 1).cash += D("0.50")  # and the broker's cash moved by a fee refund
    report = reconcile(ctx, LIMITS, retry_delay_s=0)
    kinds = {d.kind: d for d in report.differences}
    assert kinds["position"].store == "0" and kinds["position"].broker == "10"
    assert kinds["cash"].value == D("199.60")  # 10 x 20 + 0.10 commission, less the 0.50 refund


def test_small_difference_below_tolerance_is_stored_without_trigger(ctx):
    reconcile(ctx, LIMITS, retry_delay_s=0)
    buy(ctx, "AAA", "1", "opens-the-account")
    tick(ctx, {"AAA": 100.0})
    assert reconcile(ctx, LIMITS, retry_delay_s=0).ok
    with ctx.store.write() as s:
        s.get(PaperAccount, 1).cash += D("0.25")
    report = reconcile(ctx, LIMITS, retry_delay_s=0)
    assert not report.ok and not report.triggered and report.total_value == D("0.25")
    assert state(ctx).state is TradingState.ACTIVE


def test_unknown_broker_order_and_order_missing_at_broker(ctx):
    reconcile(ctx, LIMITS, retry_delay_s=0)
    buy(ctx, "AAA", "5", "open-one")
    with ctx.store.write() as s:  # the broker lost our order
        s.execute(delete(PaperOrder))
    report = reconcile(ctx, LIMITS, retry_delay_s=0)
    assert [d.kind for d in report.differences] == ["order_missing_at_broker"]
    assert report.differences[0].value == D(500) and report.triggered


def test_operator_accepts_broker_truth(ctx):
    reconcile(ctx, LIMITS, retry_delay_s=0)
    with ctx.store.write() as s:
        s.add(PaperPosition(symbol="BBB", qty=D(7), avg_entry_price=D(20)))
    assert not reconcile(ctx, LIMITS, retry_delay_s=0).ok
    accept_broker_truth(ctx, "alice", "transferred shares in")
    assert reconcile(ctx, LIMITS, retry_delay_s=0).ok
    assert ctx.broker.get_order_by_client_id("none") is None
    assert OrderStatus.NEW.is_open
