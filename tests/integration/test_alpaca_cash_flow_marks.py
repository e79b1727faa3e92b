"""A withdrawal never reads as a trading loss: not when it is taken during a drawdown, not when the broker lists it
a moment after the balance moved.

Real HTTP to the fake Alpaca server (GET /v2/account/activities), a real store (SQLite and PostgreSQL). Expected
figures are worked out by hand in each test.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from engine.context import EngineContext
from engine.trading.equity import read_marks
from engine.trading.risk_limits import RiskLimits
from engine.trading.state import current
from engine.trading.sync import SyncReport, sync_from_broker
from tests.fake_alpaca import FakeAlpacaServer
from tests.fake_alpaca.cash import add_cash_flow
from tests.trading_control_fixtures import LOOSE, alpaca_fixtures

D = Decimal
TIGHT = replace(LOOSE, daily_loss_limit_pct=D(3), max_drawdown_pct=D(5))  # a 10% move trips both
DEEP = replace(LOOSE, daily_loss_limit_pct=D(6), max_drawdown_pct=D(8))  # a 5% loss trips neither

server, ctx = alpaca_fixtures()


def _sync(ctx: EngineContext, limits: RiskLimits = TIGHT) -> SyncReport:
    ctx.clock.advance(timedelta(minutes=2))
    return sync_from_broker(ctx, limits)


def test_a_withdrawal_during_a_drawdown_keeps_its_percentages(ctx: EngineContext, server: FakeAlpacaServer) -> None:
    """100,000, a 5,000 loss (95,000: 5% below the day's start and the peak; limits 6% and 8%), then 45,000
    withdrawn (50,000). The marks scale by 50,000 / 95,000: peak and start of day 100,000 * 50/95 = 52,631.58,
    still 5% above the equity, no halt. Subtracting the withdrawal (55,000) read 9.09% and halted on both."""
    _sync(ctx, DEEP)
    server.book.cash -= D(5000)
    assert _sync(ctx, DEEP).triggers == []
    add_cash_flow(server.book, D(-45000))
    assert _sync(ctx, DEEP).triggers == []
    with ctx.store.read() as s:
        marks, state = read_marks(s), current(s)
    expected = 100000 * 50000 / 95000
    assert float(marks.peak) == pytest.approx(expected, rel=1e-12)
    assert float(marks.start_of_day) == pytest.approx(expected, rel=1e-12)
    assert float((marks.peak - marks.equity) / marks.peak) == pytest.approx(0.05, rel=1e-12)
    assert state.state.value == "ACTIVE"
    server.book.cash -= D(1000)  # a further real loss still counts: 1 - 49,000 / 52,631.58 = 6.9% > 6%
    fired = _sync(ctx, DEEP).triggers
    assert len(fired) == 1 and fired[0].startswith("daily loss limit: equity 49000.00 is 6.90% below")


def test_a_withdrawal_listed_after_the_balance_moved_fires_no_halt(ctx: EngineContext,
                                                                   server: FakeAlpacaServer) -> None:
    """10,000 withdrawn from 100,000; the sync's read of the cash activities does not list it yet, its read of the
    account shows 90,000 (a 10% "loss" against 3% and 5% limits). The breach is confirmed by a second read, which
    lists it: the marks move to 90,000 and trading stays ACTIVE (it went REDUCING)."""
    _sync(ctx)
    add_cash_flow(server.book, D(-10000), listed_late=True)
    report = _sync(ctx)
    assert report.triggers == [] and report.cash_flows == 1
    with ctx.store.read() as s:
        marks, state = read_marks(s), current(s)
    assert (marks.equity, marks.peak, marks.start_of_day) == (D(90000), D(90000), D(90000))
    assert state.state.value == "ACTIVE"


def test_a_real_loss_still_halts_in_the_same_sync(ctx: EngineContext, server: FakeAlpacaServer) -> None:
    """A 10,000 loss with no cash flow: the second read finds none, and the daily loss (10% > 3%) halts trading
    in that same sync_from_broker call: trading goes REDUCING (the limits' action; the drawdown, 10% > 5%, asks for
    REDUCING too: already so, it adds nothing)."""
    _sync(ctx)
    server.book.cash -= D(10000)
    fired = _sync(ctx).triggers
    assert len(fired) == 1 and fired[0].startswith("daily loss limit: equity 90000.00 is 10.00% below")
    with ctx.store.read() as s:
        assert current(s).state.value == "REDUCING"
