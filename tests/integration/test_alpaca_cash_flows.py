"""Deposits and withdrawals on an Alpaca account are not trading P&L (risk marks, halts, Performance returns).

Real HTTP to the fake Alpaca server (GET /v2/account/activities, CSD / CSW), a real store (SQLite and
PostgreSQL). Expected figures are worked out by hand in each test.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select

from engine.context import EngineContext
from engine.settings import MarketSourceName
from engine.store.models import KeyValue
from engine.trading.brokers.alpaca import AlpacaBroker
from engine.trading.equity import read_marks
from engine.trading.state import current
from engine.trading.sync import SyncReport, sync_from_broker
from tests.fake_alpaca import FakeAlpacaServer
from tests.fake_alpaca.cash import add_cash_flow
from tests.trading_control_fixtures import LOOSE, alpaca_context, alpaca_fixtures
from webapp.performance_data import build_view

D = Decimal
TIGHT = replace(LOOSE, daily_loss_limit_pct=D(3), max_drawdown_pct=D(5))  # a 10% move trips both

server, ctx = alpaca_fixtures()


def _sync(ctx: EngineContext, minutes: int = 2) -> SyncReport:
    ctx.clock.advance(timedelta(minutes=minutes))
    return sync_from_broker(ctx, TIGHT)


def _flows(ctx: EngineContext) -> int:
    from engine.store.models import CashFlowRow  # imported here: the module collects without the feature

    with ctx.store.read() as s:
        return int(s.scalar(select(func.count()).select_from(CashFlowRow)) or 0)


def test_a_withdrawal_leaves_daily_loss_and_drawdown_at_zero(ctx: EngineContext, server: FakeAlpacaServer) -> None:
    """100,000 with no trading, 10,000 withdrawn: equity 90,000, peak and start of day 90,000, no halt."""
    _sync(ctx)
    with ctx.store.read() as s:
        before = read_marks(s)
    assert (before.equity, before.peak, before.start_of_day) == (D(100000), D(100000), D(100000))
    add_cash_flow(server.book, D(-10000))
    report = _sync(ctx)
    assert report.triggers == []
    with ctx.store.read() as s:
        marks, state = read_marks(s), current(s)
    assert (marks.equity, marks.peak, marks.start_of_day) == (D(90000), D(90000), D(90000))  # loss 0 %, drawdown 0 %
    assert state.state.value == "ACTIVE" and _flows(ctx) == 1
    server.book.cash -= D(4000)  # a real loss afterwards still counts: 4,000 of 90,000 is 4.44 % > 3 %
    fired = _sync(ctx).triggers
    assert len(fired) == 1 and fired[0].startswith("daily loss limit: equity 86000.00 is 4.44% below")


def test_a_deposit_leaves_the_total_return_unchanged(ctx: EngineContext, server: FakeAlpacaServer) -> None:
    """Equity 100,000 -> 101,000 (a 1 % gain), then 50,000 deposited (151,000), then nothing: the time-weighted
    total return stays 1.01 * (151,000 - 50,000) / 101,000 * 151,000 / 151,000 - 1 = 1 %; drawdown 0."""
    _sync(ctx)
    server.book.cash += D(1000)  # a gain (no flow: the fake has no activity for it)
    _sync(ctx)
    add_cash_flow(server.book, D(50000))
    _sync(ctx)
    _sync(ctx)
    with ctx.store.read() as s:
        view = build_view(s, None, None)
        marks = read_marks(s)
    assert view is not None
    assert view.metrics["total_return"] == pytest.approx(0.01, abs=1e-12)
    assert view.metrics["max_drawdown"] == pytest.approx(0.0, abs=1e-12)
    assert (marks.equity, marks.peak) == (D(151000), D(151000))
    assert float(view.daily["pnl"].sum()) == pytest.approx(1000.0)  # the day's P&L: the gain, not the deposit
    from engine.store.performance_queries import flows_between

    with ctx.store.read() as s:  # the figure the page shows beside the return
        assert flows_between(s, view.span.first_id, view.span.last_id) == 50000.0


def test_a_flow_counts_once_across_syncs_and_a_restart(ctx: EngineContext, server: FakeAlpacaServer) -> None:
    """10,000 withdrawn from 100,000, then two syncs, a restart and a third: the marks move once, to 90,000 (twice
    would read 80,000); a 2,500 cash journal in afterwards is a new activity: 92,500."""
    _sync(ctx)
    add_cash_flow(server.book, D(-10000))
    _sync(ctx)
    _sync(ctx)  # reads the withdrawal again (within the overlap)
    ctx.broker = AlpacaBroker(server.key_id, server.secret_key, paper=True, url_override=server.url, timeout_s=1.0,
                              retry_wait_s=0.01, clock=ctx.clock)  # a restart: a new broker, the same store
    _sync(ctx)
    with ctx.store.read() as s:
        marks = read_marks(s)
    assert (marks.equity, marks.peak, marks.start_of_day) == (D(90000), D(90000), D(90000))
    assert _flows(ctx) == 1
    add_cash_flow(server.book, D(2500), "JNLC")
    assert _sync(ctx).triggers == []
    with ctx.store.read() as s:
        assert (read_marks(s).peak, read_marks(s).start_of_day) == (D(92500), D(92500))
    assert _flows(ctx) == 2


def test_history_before_the_first_read_does_not_move_the_marks(ctx: EngineContext, server: FakeAlpacaServer) -> None:
    """A deposit dated before the store first read the account's cash history (the upgrade case): stored, but the
    marks already include it; a canceled withdrawal moved no money and is not stored."""
    from engine.store.models import CashFlowRow
    from engine.trading.cash_flows import CURSOR_KEY

    add_cash_flow(server.book, D(-5000), status="canceled")
    with ctx.store.write() as s:  # as a store before migration 0014: never read the cash history
        s.execute(delete(CashFlowRow))
        s.execute(delete(KeyValue).where(KeyValue.key == CURSOR_KEY))
    add_cash_flow(server.book, D(20000), moves_cash=False)  # in the past: the equity already shows it
    assert _sync(ctx).cash_flows == 1
    with ctx.store.read() as s:
        marks = read_marks(s)
        row = s.scalars(select(CashFlowRow)).one()
    assert (row.amount, row.kind, row.moved_marks) == (D(20000), "CSD", False)
    assert (marks.peak, marks.start_of_day) == (D(100000), D(100000))


def test_a_withdrawal_after_the_close_is_left_out_of_the_next_days_start(tmp_path: Path, any_db_url: str,
                                                                         server: FakeAlpacaServer) -> None:
    """XNYS days (an Alpaca market). Tuesday 2026-12-08 after the close (16:00 New York, 21:00 UTC) 10,000 is
    withdrawn from 100,000. Wednesday starts from Alpaca's last_equity, Tuesday's close (100,000), which the
    withdrawal does not include: the day starts at 100,000 - 10,000 = 90,000 (no 10 % "loss"). Thursday's
    last_equity (Wednesday's close, 90,000) includes it: 90,000."""
    with alpaca_context(tmp_path, any_db_url, server, start=datetime(2026, 12, 8, 18, 0, tzinfo=UTC)) as c:
        c.settings = c.settings.model_copy(update={"market_source": MarketSourceName.ALPACA})
        c.clock.advance(timedelta(hours=5))  # Tuesday 18:00 New York
        server.book.account_overrides["last_equity"] = "100000"
        add_cash_flow(server.book, D(-10000), on=date(2026, 12, 8))
        assert sync_from_broker(c, TIGHT).triggers == []
        c.clock.advance(timedelta(hours=15))  # Wednesday 09:00 New York: a new trading day
        assert sync_from_broker(c, TIGHT).triggers == []
        with c.store.read() as s:
            marks = read_marks(s)
        assert (marks.day, marks.start_of_day, marks.equity, marks.peak) == ("2026-12-09", D(90000), D(90000), D(90000))
        server.book.account_overrides["last_equity"] = "90000"
        c.clock.advance(timedelta(days=1))
        assert sync_from_broker(c, TIGHT).triggers == []
        with c.store.read() as s:
            marks = read_marks(s)
        assert (marks.day, marks.start_of_day) == ("2026-12-10", D(90000))
