"""A feed that keeps arriving but runs behind is stale for the automatic stale-data trigger and the Health page's
market-data check too, by the gateway's rule (engine/trading/marks.py symbol_data_time): Alpaca's data is never
newer than the end of its newest bar. Real HTTP to the fake Alpaca, the real market job, on SQLite and PostgreSQL.

Hand timeline (the setup of test_alpaca_lagging_feed_stale.py): now is 2026-12-07 15:00:05 UTC (10:00:05 New York,
session open since 14:30 UTC).
- Lagging feed: newest bar 14:34, it ends 14:35; the poll returned it at 15:00:05. The newest price is
  15:00:05 - 14:35:00 = 1505 s old: past the default stale_data_seconds (300 s), so the automatic REDUCING fires;
  the health check (Alpaca cadence 60 s bar + max(tick 1 s, poll 10 s) = 70 s: degraded past 85 s, unhealthy past
  3 * 70 + 60 = 270 s) is unhealthy, "newest data 25 min old" (1505 / 60 = 25.1). Before, both read the receipt
  time only: 0 s old, no halt, healthy.
- The same feed caught up (newest bar 14:59, ends 15:00:00): 5 s old, no halt, healthy.
- A CSV replay of 2024 bars (no bar length in the stamp): judged by its receipt (0 s), as before.
"""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from engine.context import EngineContext
from engine.health.checks import check_market_data
from engine.health.grades import HEALTHY, UNHEALTHY
from engine.jobs import market_tick
from engine.market.csv_source import CsvReplaySource
from engine.store.models import JobRun
from engine.trading import auto_halts
from engine.trading import state as trading_state
from engine.trading.state import TradingState
from tests.fake_alpaca import FakeAlpacaServer
from tests.integration.test_alpaca_lagging_feed_stale import MINUTE, NOW, _alpaca_source, _bars, engine


def _tick(ctx: EngineContext) -> None:
    """The market job as the scheduler runs it: the poll, and its successful run recorded (the health check's
    'last successful fetch')."""
    market_tick(ctx)
    with ctx.store.write() as s:
        s.add(JobRun(job="market", engine_id="test", started_at=NOW, duration_ms=1.0, outcome="ok"))


def _state(ctx: EngineContext) -> TradingState:
    with ctx.store.read() as s:
        return trading_state.current(s).state


def test_a_feed_25_minutes_behind_fires_the_automatic_stale_data_reducing(tmp_path: Path, any_db_url: str) -> None:
    with FakeAlpacaServer() as srv:
        srv.book.market_open = True
        _bars(srv, MINUTE - timedelta(minutes=26))  # newest bar 14:34, ends 14:35
        with engine(tmp_path, any_db_url, srv, _alpaca_source(srv), "alpaca") as ctx:
            _tick(ctx)
            changes = auto_halts.evaluate(ctx)
            assert [c.to_state for c in changes] == [TradingState.REDUCING]
            assert changes[0].reason.startswith("stale market data: the newest price is 1505s old (limit 300s)")
            assert _state(ctx) is TradingState.REDUCING


def test_a_feed_25_minutes_behind_is_an_unhealthy_market_data_check(tmp_path: Path, any_db_url: str) -> None:
    with FakeAlpacaServer() as srv:
        srv.book.market_open = True
        _bars(srv, MINUTE - timedelta(minutes=26))
        with engine(tmp_path, any_db_url, srv, _alpaca_source(srv), "alpaca") as ctx:
            _tick(ctx)
            health = check_market_data(ctx, NOW)
            assert health.status == UNHEALTHY, health.detail
            assert "newest data 25 min old (new bars expected every 70 s)" in health.detail


def test_the_same_feed_caught_up_neither_halts_nor_degrades(tmp_path: Path, any_db_url: str) -> None:
    with FakeAlpacaServer() as srv:
        srv.book.market_open = True
        _bars(srv, MINUTE - timedelta(minutes=1))  # newest finished bar 14:59, ends 15:00:00: 5 s old
        with engine(tmp_path, any_db_url, srv, _alpaca_source(srv), "alpaca") as ctx:
            _tick(ctx)
            before = _state(ctx)
            assert auto_halts.evaluate(ctx) == []
            assert _state(ctx) is before
            health = check_market_data(ctx, NOW)
            assert health.status == HEALTHY, health.detail
            assert "newest data 5 s old" in health.detail


def test_replayed_csv_bars_are_judged_by_their_receipt(tmp_path: Path, any_db_url: str) -> None:
    rows = "".join(f"2024-03-01T14:{30 + i}:00Z,100,101,99,100,1000\n" for i in range(3))
    for sym in ("AAA", "SPY"):
        (tmp_path / f"{sym}.csv").write_text("timestamp,open,high,low,close,volume\n" + rows, encoding="utf-8")
    source = CsvReplaySource({s: tmp_path / f"{s}.csv" for s in ("AAA", "SPY")}, bars_per_poll=3, index_symbol="SPY")
    with FakeAlpacaServer() as srv:
        srv.book.market_open = True
        with engine(tmp_path, any_db_url, srv, lambda _clock: source, "csv") as ctx:
            _tick(ctx)
            assert auto_halts.evaluate(ctx) == []  # the bars are from 2024, the receipt is now
            health = check_market_data(ctx, NOW)
            assert health.status == HEALTHY, health.detail
            assert "newest data 0 s old" in health.detail
