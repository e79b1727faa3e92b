"""The daily-loss limit starts the day at the broker's equity of the previous close (Alpaca's last_equity), not at the
equity of the engine's first sync of the day (fake Alpaca over real HTTP; SQLite and PostgreSQL).

Hand numbers: last close 100,000; the account is at 96,000 when the engine (re)starts at 10:00 ET on Monday
2026-12-07: the day's loss is 4,000 / 100,000 = 4% against a 3% limit, so the first sync's triggers fire. Before,
the first sync of the day took 96,000 as the start and saw a 0% loss.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from engine.trading import state as trading_state
from engine.trading.brokers.alpaca import AlpacaBroker
from engine.trading.equity import read_marks
from engine.trading.state import TradingState
from tests.fake_alpaca import FakeAlpacaServer
from tests.trading_control_fixtures import LOOSE, broker_context

LIMITS = replace(LOOSE, daily_loss_limit_pct=Decimal(3))
START = datetime.combine(date(2026, 12, 7), time(10, 0), tzinfo=ZoneInfo("America/New_York")).astimezone(UTC)


def test_a_restart_after_a_loss_counts_the_loss_from_the_previous_close(any_db_url, tmp_path) -> None:
    with FakeAlpacaServer() as srv:
        srv.book.cash = Decimal(96_000)
        srv.book.account_overrides["last_equity"] = "100000"

        def make(clock):  # type: ignore[no-untyped-def]
            return AlpacaBroker(srv.key_id, srv.secret_key, paper=True, url_override=srv.url, timeout_s=1.0,
                                retry_wait_s=0.01, retry_max_wait_s=0.05, clock=clock)

        with broker_context(tmp_path, any_db_url, make, LIMITS, start=START) as ctx, ctx.store.read() as s:
            marks = read_marks(s)  # broker_context's first sync is the restart
            state = trading_state.current(s)
    assert (marks.day, marks.start_of_day, marks.equity) == ("2026-12-07", Decimal(100_000), Decimal(96_000))
    assert state.state is not TradingState.ACTIVE and "daily loss" in (state.reason or "").lower()
