"""The order gateway: idempotent ids, each pre-trade check, the trading state read in the order's transaction."""
from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from engine.clock import ManualClock
from engine.context import EngineContext
from engine.market.types import Bar
from engine.settings import load_settings
from engine.store.db import Store
from engine.store.installation import installation_id
from engine.store.keyvalue import MARKET_DATA_KEY
from engine.store.migrate import open_store
from engine.store.models import AuditEvent, BarRow, KeyValue, OrderRow, PaperOrder
from engine.trading import state as trading_state
from engine.trading.brokers.base import BrokerUnavailable, OrderRejected, OrderSide, OrderStatus, OrderType
from engine.trading.brokers.paper import PaperBroker
from engine.trading.gateway import GatewayError, OrderIntent, client_order_id_for, submit
from engine.trading.risk_limits import RiskLimits
from engine.trading.state import TradingState
from engine.trading.sync import sync_from_broker
from tests.trading_control_fixtures import LOOSE

T0 = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
D = Decimal


@pytest.fixture()
def ctx(tmp_path) -> EngineContext:
    url = f"sqlite:///{tmp_path}/t.db"
    store = open_store(url, migrate=True)
    clock = ManualClock(T0)
    broker = PaperBroker(store, clock, starting_cash=D(100_000), slippage_bps=D(0), commission_per_share=D(0),
                         participation=D(1))
    with store.write() as s:
        trading_state.ensure_state(s, T0)
    settings = load_settings(database_url=url, market_source="csv", csv_dir=tmp_path)  # bars in wall-clock time
    context = EngineContext(settings=settings, store=store, clock=clock, broker=broker, source=None)
    put_bars(context, "AAA", 100.0)
    put_bars(context, "BBB", 50.0)
    sync_from_broker(context, LOOSE)
    yield context
    store.dispose()


def put_bars(ctx: EngineContext, symbol: str, close: float, fill: bool = False) -> None:
    """Store a bar stamped at the clock's time (and let the paper broker match when asked)."""
    now = ctx.clock.now()
    bar = Bar(symbol, now, close, close + 1, close - 1, close, 1_000_000)
    with ctx.store.write() as s:
        s.add(BarRow(symbol=symbol, ts=now, open=close, high=close + 1, low=close - 1, close=close, volume=1_000_000))
    if fill:
        ctx.broker.process_bars([bar])


def intent(side: str = "buy", qty: str = "10", symbol: str = "AAA", key: str = "k1", order_type: str = "market",
           limit: str | None = None) -> OrderIntent:
    return OrderIntent(symbol, OrderSide(side), D(qty), OrderType(order_type), D(limit) if limit else None,
                       reason="test", idempotency_key=key)


def hold(ctx: EngineContext, qty: str, symbol: str = "AAA", price: float = 100.0) -> None:
    """Get a position at the paper broker and sync it into the store."""
    side = "buy" if D(qty) > 0 else "sell"
    res = submit(ctx, intent(side, str(abs(D(qty))), symbol, key=f"hold-{symbol}-{qty}-{ctx.clock.now()}"), "op", "manual", LOOSE)
    assert res.accepted, res.reason
    ctx.clock.advance(1)
    put_bars(ctx, symbol, price, fill=True)
    sync_from_broker(ctx, LOOSE)


def paper_order_count(ctx: EngineContext) -> int:
    with ctx.store.read() as s:
        return s.scalar(select(func.count()).select_from(PaperOrder))


def test_accepted_order_is_stored_sent_and_audited(ctx):
    res = submit(ctx, intent(), "planner-bot", "planner", LOOSE)
    assert res.accepted and res.status is OrderStatus.NEW and res.broker_order_id
    with ctx.store.read() as s:
        row = s.scalars(select(OrderRow)).one()
        assert (row.status, row.origin, row.actor, row.broker_order_id) == ("new", "planner", "planner-bot", res.broker_order_id)
        assert s.scalars(select(AuditEvent.action).where(AuditEvent.action == "order.submit")).all() == ["order.submit"]


def test_retried_intent_gets_the_same_id_and_no_duplicate(ctx):
    first = submit(ctx, intent(key="cycle-1"), "p", "planner", LOOSE)
    again = submit(ctx, intent(key="cycle-1"), "p", "planner", LOOSE)
    assert again.duplicate and again.client_order_id == first.client_order_id
    assert first.client_order_id == client_order_id_for("planner", "cycle-1", "AAA", "buy", installation_id(ctx.store))
    assert paper_order_count(ctx) == 1
    other = submit(ctx, intent(key="cycle-2"), "p", "planner", LOOSE)
    assert other.client_order_id != first.client_order_id and paper_order_count(ctx) == 2


def test_intent_without_idempotency_key_is_refused(ctx):
    with pytest.raises(GatewayError, match="idempotency key"):
        submit(ctx, intent(key=""), "p", "planner", LOOSE)


@pytest.mark.parametrize(
    ("limits", "order", "check", "reason_part"),
    [
        ({"max_order_qty": D(5)}, intent(qty="10"), "max_order_qty", "maximum order quantity 5"),
        ({"max_order_notional": D(500)}, intent(qty="10"), "max_order_notional", "worth 1000.00"),
        ({"max_position_notional": D(900)}, intent(qty="10"), "max_position_notional", "per-symbol limit 900"),
        ({"max_gross_exposure_pct": D("0.5")}, intent(qty="10"), "max_gross_exposure", "of equity"),
        ({"price_collar_pct": D(5)}, intent(order_type="limit", limit="90"), "price_collar", "10.00% away"),
        ({}, intent(symbol="ZZZ"), "stale_data", "no market data for ZZZ"),
    ],
)
def test_each_check_rejects_with_its_reason_and_passes_otherwise(ctx, limits, order, check, reason_part):
    strict = dataclasses.replace(LOOSE, **limits)
    res = submit(ctx, order, "p", "planner", strict)
    assert not res.accepted and res.status is OrderStatus.REJECTED and res.check == check
    assert reason_part in res.reason
    with ctx.store.read() as s:
        row = s.scalars(select(OrderRow)).one()
        assert row.status == "rejected" and row.reject_reason.startswith(f"{check}:")
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "order.rejected")).one()
        assert event.details["check"] == check and event.outcome == "rejected"
    assert paper_order_count(ctx) == 0  # nothing reached the broker
    if check != "stale_data":
        ok = submit(ctx, dataclasses.replace(order, idempotency_key="loose"), "p", "planner", LOOSE)
        assert ok.accepted, ok.reason


def test_stale_data_by_the_injected_clock(ctx):
    limits = dataclasses.replace(LOOSE, stale_data_seconds=60)
    ctx.clock.advance(61)
    res = submit(ctx, intent(), "p", "planner", limits)
    assert res.check == "stale_data" and "61s old" in res.reason
    put_bars(ctx, "AAA", 100.0)
    assert submit(ctx, intent(key="k2"), "p", "planner", limits).accepted


def test_simulated_bar_times_are_not_taken_for_freshness_but_receipt_times_are(ctx):
    ctx.settings = load_settings(database_url=ctx.store.url)  # simulated: bar times are simulated times
    limits = dataclasses.replace(LOOSE, stale_data_seconds=60)
    ctx.clock.advance(3600)
    assert submit(ctx, intent(key="sim"), "p", "planner", limits).accepted
    with ctx.store.write() as s:
        s.add(KeyValue(key=MARKET_DATA_KEY, value={"ts": (ctx.clock.now() - timedelta(seconds=90)).isoformat()},
                       updated_at=ctx.clock.now()))
    res = submit(ctx, intent(key="sim2"), "p", "planner", limits)
    assert res.check == "stale_data" and "90s old" in res.reason


def test_halt_set_from_another_connection_stops_the_next_order(ctx, tmp_path):
    assert submit(ctx, intent(key="before"), "p", "planner", LOOSE).accepted
    web = Store(f"sqlite:///{tmp_path}/t.db")  # the web process: its own engine and connections
    with web.write() as s:
        trading_state.change(s, T0, TradingState.HALTED, "alice", "kill switch")
    web.dispose()
    res = submit(ctx, intent(key="after"), "p", "planner", LOOSE)  # no engine step in between
    assert res.check == "trading_state" and "HALTED" in res.reason
    assert paper_order_count(ctx) == 1


def test_reducing_allows_reductions_only(ctx):
    hold(ctx, "100")
    with ctx.store.write() as s:
        trading_state.change(s, T0, TradingState.REDUCING, "alice", "pause entries")
    assert submit(ctx, intent("buy", "10", key="add"), "p", "planner", LOOSE).check == "trading_state"
    assert submit(ctx, intent("sell", "150", key="flip"), "p", "planner", LOOSE).check == "trading_state"
    assert submit(ctx, intent("buy", "5", "BBB", key="new"), "p", "planner", LOOSE).check == "trading_state"
    assert submit(ctx, intent("sell", "60", key="cut"), "p", "planner", LOOSE).accepted
    # the open sell 60 counts: another sell 60 would flip once both fill
    assert submit(ctx, intent("sell", "60", key="cut2"), "p", "planner", LOOSE).check == "trading_state"
    assert submit(ctx, intent("sell", "40", key="cut3"), "p", "planner", LOOSE).accepted


def test_halted_allows_only_an_operators_flatten_and_audits_it(ctx):
    hold(ctx, "100")
    with ctx.store.write() as s:
        trading_state.change(s, T0, TradingState.HALTED, "alice", "kill switch")
    assert submit(ctx, intent("sell", "100", key="x"), "p", "planner", LOOSE).check == "trading_state"
    assert submit(ctx, intent("sell", "100", key="x"), "system:shutdown", "flatten", LOOSE).check == "trading_state"
    assert submit(ctx, intent("sell", "200", key="y"), "alice", "flatten", LOOSE).check == "trading_state"  # flip
    res = submit(ctx, intent("sell", "100", key="z"), "alice", "flatten", LOOSE)
    assert res.accepted and res.status is OrderStatus.NEW
    with ctx.store.read() as s:
        override = s.scalars(select(AuditEvent).where(AuditEvent.action == "order.flatten_override")).one()
        assert override.actor == "alice" and override.details["state"] == "HALTED"


def test_drawdown_is_measured_from_the_peak_not_the_start(ctx):
    hold(ctx, "500")  # 500 x 100 on 100k equity
    ctx.clock.advance(1)
    put_bars(ctx, "AAA", 140.0)
    sync_from_broker(ctx, LOOSE)  # equity 120k: the new peak
    ctx.clock.advance(1)
    put_bars(ctx, "AAA", 120.0)
    sync_from_broker(ctx, LOOSE)  # equity 110k: +10% from the start, -8.3% from the peak
    limits = dataclasses.replace(LOOSE, max_drawdown_pct=D(5))
    res = submit(ctx, intent("buy", "1", "BBB", key="dd"), "p", "planner", limits)
    assert res.check == "drawdown" and "below its peak 120000.00" in res.reason
    with ctx.store.read() as s:
        snap = trading_state.current(s)
    assert snap.state is TradingState.REDUCING and snap.changed_by == "system:risk"
    assert submit(ctx, intent("sell", "100", key="cut"), "p", "planner", limits).accepted  # exits still allowed


def test_sync_trigger_fires_drawdown_without_any_order(ctx):
    hold(ctx, "500")
    ctx.clock.advance(1)
    put_bars(ctx, "AAA", 140.0)
    sync_from_broker(ctx, LOOSE)
    ctx.clock.advance(1)
    put_bars(ctx, "AAA", 120.0)
    report = sync_from_broker(ctx, dataclasses.replace(LOOSE, max_drawdown_pct=D(5)))
    assert report.triggers and "drawdown" in report.triggers[0]
    with ctx.store.read() as s:
        assert trading_state.current(s).state is TradingState.REDUCING


def test_daily_loss_limit_from_start_of_day_equity(ctx):
    hold(ctx, "500")
    ctx.clock.advance(1)
    put_bars(ctx, "AAA", 90.0)
    sync_from_broker(ctx, LOOSE)  # equity 95k: -5% on the day
    limits = dataclasses.replace(LOOSE, daily_loss_limit_pct=D(3))
    res = submit(ctx, intent("buy", "1", "BBB", key="dl"), "p", "planner", limits)
    assert res.check == "daily_loss" and "start-of-day equity 100000.00" in res.reason


def test_no_account_snapshot_blocks_new_exposure(tmp_path):
    url = f"sqlite:///{tmp_path}/n.db"
    store = open_store(url, migrate=True)
    clock = ManualClock(T0)
    c = EngineContext(load_settings(database_url=url), store, clock, PaperBroker(store, clock), None)
    put_bars(c, "AAA", 100.0)
    res = submit(c, intent(), "p", "planner", LOOSE)
    assert res.check == "no_account" and "account sync" in res.reason
    store.dispose()


class FlakyBroker:
    """The paper broker behind a failure injected at submit time (after or before it reaches the books)."""

    def __init__(self, inner: PaperBroker, error: Exception, reach: bool) -> None:
        self._inner, self._error, self._reach = inner, error, reach
        self.name = inner.name

    def submit_order(self, request):  # type: ignore[no-untyped-def]
        if self._reach:
            self._inner.submit_order(request)
        raise self._error

    def __getattr__(self, item):  # type: ignore[no-untyped-def]
        return getattr(self._inner, item)


def test_broker_unavailable_leaves_pending_new_and_sync_resolves_it(ctx):
    inner = ctx.broker
    ctx.broker = FlakyBroker(inner, BrokerUnavailable("connection reset"), reach=True)
    res = submit(ctx, intent(key="lost-answer"), "p", "planner", LOOSE)
    assert res.accepted and res.status is OrderStatus.PENDING_NEW
    ctx.broker = inner
    report = sync_from_broker(ctx, LOOSE)
    assert report.orders_updated + report.pending_resolved >= 1
    with ctx.store.read() as s:
        assert s.scalars(select(OrderRow.status).where(OrderRow.client_order_id == res.client_order_id)).one() == "new"
    assert paper_order_count(ctx) == 1


def test_pending_order_the_broker_never_got_is_closed_after_the_grace(ctx):
    inner = ctx.broker
    ctx.broker = FlakyBroker(inner, BrokerUnavailable("down"), reach=False)
    res = submit(ctx, intent(key="never-sent"), "p", "planner", LOOSE)
    ctx.broker = inner
    sync_from_broker(ctx, LOOSE)
    with ctx.store.read() as s:
        assert s.scalars(select(OrderRow.status).where(OrderRow.client_order_id == res.client_order_id)).one() == "pending_new"
    ctx.clock.advance(60)
    sync_from_broker(ctx, LOOSE)
    with ctx.store.read() as s:
        row = s.scalars(select(OrderRow).where(OrderRow.client_order_id == res.client_order_id)).one()
    assert row.status == "rejected" and "never received" in row.reject_reason


def test_broker_rejection_is_stored_with_its_reason(ctx):
    inner = ctx.broker
    ctx.broker = FlakyBroker(inner, OrderRejected("asset AAA is not tradable"), reach=False)
    res = submit(ctx, intent(key="nt"), "p", "planner", LOOSE)
    assert res.status is OrderStatus.REJECTED and res.check == "broker" and "not tradable" in res.reason
    ctx.broker = inner
    # 2,100 x $100 = $210,000 > the paper broker's buying power (2 x $100,000 equity); within our own limits, the
    # stress limit included (AAA has one bar: its proxy volatility puts 5,000 shares past the 60% stress limit)
    big = submit(ctx, intent(qty="2100", key="bp"), "p", "planner", LOOSE)
    assert big.status is OrderStatus.REJECTED and "buying power" in big.reason


def test_too_many_broker_rejections_halt_trading(ctx):
    limits = dataclasses.replace(LOOSE, max_order_qty=D(1), max_rejections=3)
    for i in range(4):  # our own checks' refusals do not count
        submit(ctx, intent(key=f"r{i}"), "p", "planner", limits)
    limits = dataclasses.replace(LOOSE, max_rejections=3)
    for i in range(2):
        submit(ctx, intent(qty="2100", key=f"bp{i}"), "p", "planner", limits)  # paper: insufficient buying power
    with ctx.store.read() as s:
        assert trading_state.current(s).state is TradingState.ACTIVE
    submit(ctx, intent(qty="2100", key="bp3"), "p", "planner", limits)
    with ctx.store.read() as s:
        snap = trading_state.current(s)
    assert snap.state is TradingState.HALTED and "3 orders rejected by the broker" in snap.reason


def test_default_limits_match_the_parameter_schema():
    from engine.params.paramset import default_params

    assert RiskLimits.from_params(default_params()) == RiskLimits()
    assert RiskLimits.from_params(None) == RiskLimits()


def test_fills_reach_the_store_once(ctx):
    res = submit(ctx, intent(qty="10", key="f"), "p", "planner", LOOSE)
    ctx.clock.advance(1)
    put_bars(ctx, "AAA", 101.0, fill=True)
    first = sync_from_broker(ctx, LOOSE)
    second = sync_from_broker(ctx, LOOSE)
    assert first.fills_added == 1 and second.fills_added == 0
    with ctx.store.read() as s:
        row = s.scalars(select(OrderRow).where(OrderRow.client_order_id == res.client_order_id)).one()
    assert row.status == "filled" and row.filled_qty == 10 and row.filled_avg_price == D(101)
    assert T0 + timedelta(seconds=1) == ctx.clock.now()


def test_operator_flatten_all_while_halted_goes_flat(ctx):
    hold(ctx, "100")
    hold(ctx, "-40", "BBB", 50.0)
    submit(ctx, intent("buy", "1", "AAA", key="open-limit", order_type="limit", limit="99"), "p", "planner", LOOSE)
    with ctx.store.write() as s:
        trading_state.change(s, T0, TradingState.HALTED, "alice", "kill switch")
    from engine.trading.gateway import flatten_all

    results = flatten_all(ctx, "alice", "kill switch flatten", "ks-1", limits=LOOSE)
    assert sorted((r.status.value, r.accepted) for r in results) == [("new", True), ("new", True)]
    ctx.clock.advance(1)
    put_bars(ctx, "AAA", 100.0, fill=True)
    put_bars(ctx, "BBB", 50.0, fill=True)
    sync_from_broker(ctx, LOOSE)
    assert ctx.broker.get_positions() == []
    again = flatten_all(ctx, "alice", "kill switch flatten", "ks-1", limits=LOOSE)
    assert again == []
