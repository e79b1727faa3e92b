"""The order gateway refuses the market's index (IDX in the simulated market) on SQLite and PostgreSQL: whatever
the origin (manual ticket, planner, API), the order is recorded as rejected with the reason and the broker is
never called; a stock order still goes through, and a position already held in the index can still be closed.
The planner's universe never contains the index either."""
from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from engine.clock import ManualClock
from engine.context import EngineContext
from engine.planner.portfolio import portfolio_state
from engine.settings import load_settings
from engine.store.migrate import open_store
from engine.store.models import AuditEvent, BarRow, Instrument, OrderRow, PaperOrder
from engine.trading import state as trading_state
from engine.trading.brokers.base import BrokerOrder, OrderRequest, OrderSide, OrderStatus
from engine.trading.brokers.paper import PaperBroker
from engine.trading.gateway import OrderIntent, submit
from engine.trading.instruments import refusal_for_symbol
from engine.trading.risk_limits import RiskLimits
from engine.trading.sync import sync_from_broker

T0 = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
D = Decimal
LIMITS = RiskLimits(max_order_qty=D(10**6), max_order_notional=D(10**9), max_position_notional=D(10**9))
INDEX_REASON = "IDX is an index, not a tradable instrument"


class SpyBroker(PaperBroker):
    """The paper broker, counting what reaches it."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.sent: list[OrderRequest] = []

    def submit_order(self, request: OrderRequest) -> BrokerOrder:
        self.sent.append(request)
        return super().submit_order(request)


class FakeSource:
    """A market source whose index the store has not recorded as an Instrument (e.g. before ensure_instruments)."""

    name = "fake"

    def index_symbol(self) -> str:
        return "SPX"


def _ctx(url: str, tmp_path: Any, source: Any = None) -> EngineContext:
    store = open_store(url, migrate=True)
    clock = ManualClock(T0)
    broker = SpyBroker(store, clock, D(100_000), D(0), D(0), D(1))
    with store.write() as s:
        trading_state.ensure_state(s, T0)
        s.add(Instrument(symbol="IDX", kind="index", has_options=True, source="simulated"))
        s.add(Instrument(symbol="AAA", kind="stock", has_options=False, source="simulated"))
        for sym in ("IDX", "AAA", "SPX"):
            s.add(BarRow(symbol=sym, ts=T0, open=100, high=101, low=99, close=100, volume=1e6))
    ctx = EngineContext(load_settings(database_url=url, market_source="csv", csv_dir=tmp_path), store, clock,
                        broker, source)
    sync_from_broker(ctx, LIMITS)  # an account snapshot: the exposure checks have equity
    return ctx


@pytest.fixture()
def ctx(any_db_url, tmp_path):
    c = _ctx(any_db_url, tmp_path)
    yield c
    c.store.dispose()


def _rows(c: EngineContext, symbol: str) -> list[tuple[str, str, str | None]]:
    with c.store.read() as s:
        return [(o.side, o.status, o.reject_reason)
                for o in s.scalars(select(OrderRow).where(OrderRow.symbol == symbol).order_by(OrderRow.id))]


@pytest.mark.parametrize("origin", ["manual", "planner", "api"])
def test_an_index_order_is_rejected_with_the_reason_and_never_sent(ctx, origin) -> None:
    result = submit(ctx, OrderIntent("IDX", OrderSide.BUY, D(5), idempotency_key=f"k-{origin}"), "alice", origin,
                    LIMITS)

    assert (result.accepted, result.status, result.check) == (False, OrderStatus.REJECTED, "not_tradable")
    assert result.reason == f"not_tradable: {INDEX_REASON}"
    assert ctx.broker.sent == []
    assert _rows(ctx, "IDX") == [("buy", "rejected", f"not_tradable: {INDEX_REASON}")]
    with ctx.store.read() as s:
        assert s.scalars(select(PaperOrder)).first() is None
        audit = s.scalars(select(AuditEvent).where(AuditEvent.action == "order.rejected")).one()
        assert (audit.target, audit.outcome, audit.details["check"], audit.details["reason"]) == (
            "IDX", "rejected", "not_tradable", INDEX_REASON)


def test_a_stock_order_still_goes_through_and_the_index_check_comes_first(ctx) -> None:
    ok = submit(ctx, OrderIntent("AAA", OrderSide.BUY, D(5), idempotency_key="stock"), "alice", "manual", LIMITS)
    assert ok.accepted and [r.symbol for r in ctx.broker.sent] == ["AAA"]

    with ctx.store.write() as s:  # HALTED refuses everything, but the index answer is the more useful one
        trading_state.change(s, T0, trading_state.TradingState.HALTED, "alice", "test")
    res = submit(ctx, OrderIntent("IDX", OrderSide.BUY, D(1), idempotency_key="halted"), "alice", "manual", LIMITS)
    assert (res.check, res.reason) == ("not_tradable", f"not_tradable: {INDEX_REASON}")
    res = submit(ctx, OrderIntent("AAA", OrderSide.BUY, D(1), idempotency_key="halted"), "alice", "manual", LIMITS)
    assert res.check == "trading_state"
    assert len(ctx.broker.sent) == 1


def test_a_position_already_held_in_the_index_can_still_be_closed(ctx) -> None:
    """Before this check the paper broker filled index orders: such a position must not be stuck."""
    ctx.broker.submit_order(OrderRequest("legacy-idx", "IDX", OrderSide.BUY, D(10)))
    ctx.broker.sent.clear()
    from engine.market.types import Bar

    bar = Bar("IDX", datetime(2026, 1, 5, 14, 31, tzinfo=UTC), 100, 101, 99, 100, 1e6)
    with ctx.store.write() as s:
        s.add(BarRow(symbol="IDX", ts=bar.ts, open=100, high=101, low=99, close=100, volume=1e6))
    ctx.broker.process_bars([bar])
    sync_from_broker(ctx, LIMITS)

    more = submit(ctx, OrderIntent("IDX", OrderSide.BUY, D(1), idempotency_key="more"), "alice", "manual", LIMITS)
    assert (more.accepted, more.check) == (False, "not_tradable")
    flipped = submit(ctx, OrderIntent("IDX", OrderSide.SELL, D(15), idempotency_key="flip"), "alice", "manual", LIMITS)
    assert (flipped.accepted, flipped.check) == (False, "not_tradable")  # would open a short index position
    close = submit(ctx, OrderIntent("IDX", OrderSide.SELL, D(10), idempotency_key="close"), "alice", "flatten", LIMITS)
    assert close.accepted and [(r.symbol, r.side, r.qty) for r in ctx.broker.sent] == [
        ("IDX", OrderSide.SELL, D(10))]


def test_the_sources_index_is_refused_even_when_the_store_has_no_instrument_row(any_db_url, tmp_path) -> None:
    c = _ctx(any_db_url, tmp_path, source=FakeSource())
    try:
        res = submit(c, OrderIntent("SPX", OrderSide.BUY, D(1), idempotency_key="spx"), "alice", "api", LIMITS)
        assert (res.accepted, res.reason) == (False, "not_tradable: SPX is an index, not a tradable instrument")
        assert c.broker.sent == []  # type: ignore[attr-defined]
        with c.store.read() as s:
            assert refusal_for_symbol(s, "spx", "SPX") == "SPX is an index, not a tradable instrument"
            assert refusal_for_symbol(s, "SPX") is None  # the store alone does not know it
            assert refusal_for_symbol(s, " idx ") == INDEX_REASON
            assert refusal_for_symbol(s, "AAA") is None and refusal_for_symbol(s, "ZZZ") is None
    finally:
        c.store.dispose()


def test_the_planners_universe_excludes_the_index(ctx) -> None:
    with ctx.store.read() as s:
        state = portfolio_state(s, None)
    assert list(state.history.columns) == ["AAA"]
    assert "IDX" not in state.prices and "IDX" not in (state.size_caps or {})
