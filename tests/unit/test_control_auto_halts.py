"""Automatic halts and reductions (engine.trading.auto_halts.evaluate) on a real store and paper broker."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from engine.clock import ManualClock
from engine.store.models import AccountSnapshot, AuditEvent, OrderRow
from engine.trading import auto_halts
from engine.trading import state as ts
from engine.trading.equity import update_marks
from engine.trading.state import TradingState
from tests.fake_alpaca import FakeAlpacaServer
from tests.trading_control_fixtures import T0, make_ctx, make_store, place_resting_orders


@pytest.fixture()
def ctx(tmp_path):
    c = make_ctx(tmp_path, ManualClock(T0))
    yield c
    c.store.dispose()


def equity_path(ctx, points: list[tuple[float, int]]) -> None:
    """Account snapshots at (equity, seconds after T0), moving the peak and start-of-day as sync does."""
    for equity, seconds in points:
        when = T0 + timedelta(seconds=seconds)
        with ctx.store.write() as s:
            s.add(AccountSnapshot(ts=when, broker="paper", cash=Decimal(equity), equity=Decimal(equity),
                                  buying_power=Decimal(equity), gross_exposure=Decimal(0)))
            update_marks(s, when, Decimal(equity))


def state(ctx) -> ts.StateSnapshot:
    with ctx.store.read() as s:
        return ts.current(s)


def test_drawdown_is_measured_from_the_peak_not_the_start(ctx):
    # up 20% yesterday, then down: only 2.2% below today's start, but 12% below the peak
    equity_path(ctx, [(1_000_000, 0), (1_200_000, 3600), (1_080_000, 86_400), (1_056_000, 86_500)])
    ctx.clock.advance(86_500)
    changes = auto_halts.evaluate(ctx)
    assert [(c.from_state, c.to_state) for c in changes] == [(TradingState.ACTIVE, TradingState.REDUCING)]
    assert "below its peak 1200000" in changes[0].reason
    snap = state(ctx)
    assert snap.state is TradingState.REDUCING and snap.changed_by == "system:risk"
    assert auto_halts.evaluate(ctx) == []  # already tightened: nothing new


def test_daily_loss_limit_reduces(ctx):
    equity_path(ctx, [(1_000_000, 0), (965_000, 60)])
    changes = auto_halts.evaluate(ctx)
    assert len(changes) == 1 and "daily loss limit" in changes[0].reason
    assert state(ctx).state is TradingState.REDUCING


def test_stale_market_data_reduces_and_cancels_entry_orders(ctx):
    place_resting_orders(ctx, 4)  # buy limits: they would add exposure
    ctx.clock.advance(3600)  # the newest bar is now an hour old
    changes = auto_halts.evaluate(ctx)
    assert len(changes) == 1 and changes[0].reason.startswith("stale market data")
    assert state(ctx).state is TradingState.REDUCING
    assert ctx.broker.list_open_orders() == []
    with ctx.store.read() as s:
        pauses = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "control.pause")))
    assert len(pauses) == 1 and pauses[0].actor == "system:risk"
    auto_halts.evaluate(ctx)  # enforced once only
    with ctx.store.read() as s:
        assert len(list(s.scalars(select(AuditEvent).where(AuditEvent.action == "control.pause")))) == 1


def test_too_many_rejections_halt_and_cancel_everything(ctx):
    place_resting_orders(ctx, 3)
    now = ctx.clock.now()
    with ctx.store.write() as s:
        for i in range(20):
            s.add(OrderRow(client_order_id=f"rej-{i}", broker_order_id=None, symbol="AAA", side="buy",
                           qty=Decimal(1), order_type="market", limit_price=None, status="rejected",
                           reject_reason="broker: insufficient buying power", origin="planner", actor="system:planner",
                           param_version_id=None, created_at=now, updated_at=now))
    changes = auto_halts.evaluate(ctx)
    assert [c.to_state for c in changes] == [TradingState.HALTED]
    assert ctx.broker.list_open_orders() == []


def test_automatic_triggers_never_loosen_an_operator_halt(ctx):
    with ctx.store.write() as s:
        ts.change(s, ctx.clock.now(), TradingState.HALTED, "alice", "manual")
    ctx.clock.advance(3600)
    assert auto_halts.evaluate(ctx) == []
    assert state(ctx).state is TradingState.HALTED and state(ctx).changed_by == "alice"


def test_an_open_broker_circuit_breaker_halts(tmp_path):
    from engine.trading.brokers.alpaca import AlpacaBroker
    from engine.trading.control import SimpleControlContext

    store = make_store(tmp_path)
    with FakeAlpacaServer(key_id="k", secret_key="s") as server:
        broker = AlpacaBroker("k", "s", paper=True, url_override=server.url, timeout_s=1.0)
        ctx = SimpleControlContext(store=store, clock=ManualClock(T0), broker=broker)
        assert auto_halts.evaluate(ctx) == []
        broker.breaker.open()
        changes = auto_halts.evaluate(ctx)
    assert len(changes) == 1 and "circuit breaker is open" in changes[0].reason
    assert state(ctx).state is TradingState.HALTED  # TradingRisk halt_on_broker_circuit_open defaults to True
    store.dispose()


def test_trigger_actions_come_from_the_trading_risk_sheet():
    from engine.params import default_params

    assert auto_halts.AutoActions.from_params(default_params()).breaker_action == "HALTED"

    from engine.tuning.edit import edited

    params = edited(default_params(), {("TradingRisk", "main", "halt_on_broker_circuit_open"): False,
                                       ("TradingRisk", "main", "stale_data_action"): "HALTED"})
    actions = auto_halts.AutoActions.from_params(params)
    assert actions.breaker_action is None and actions.stale_data_action == "HALTED"
    assert auto_halts.AutoActions.from_params(None) == auto_halts.AutoActions()


def test_start_of_day_rolls_at_the_market_timezones_midnight(ctx):
    """Asia/Kolkata is UTC+05:30: 18:29 UTC is still the same trading day, 18:31 UTC is the next."""
    from datetime import UTC, datetime

    from engine.trading.equity import trading_day

    def mark(hh_mm: str, equity: int):  # type: ignore[no-untyped-def]
        when = datetime.fromisoformat(f"2026-03-02T{hh_mm}:00").replace(tzinfo=UTC)
        with ctx.store.write() as s:
            return update_marks(s, when, Decimal(equity), "Asia/Kolkata")

    assert mark("04:00", 1_000_000).start_of_day == 1_000_000  # 09:30 in Mumbai
    assert mark("18:29", 960_000).start_of_day == 1_000_000  # 23:59 in Mumbai: same day, loss counted
    rolled = mark("18:31", 955_000)  # 00:01 on 3 March in Mumbai
    assert (rolled.day, rolled.start_of_day) == ("2026-03-03", 955_000)
    assert trading_day(datetime(2026, 3, 2, 23, 0, tzinfo=UTC), "America/New_York") == "2026-03-02"
    assert trading_day(datetime(2026, 3, 2, 23, 0, tzinfo=UTC), "UTC") == "2026-03-02"
    assert trading_day(datetime(2026, 3, 3, 4, 59, tzinfo=UTC), "America/New_York") == "2026-03-02"
