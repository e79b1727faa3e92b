"""Alpaca's data is aged by its bars' own (wall-clock) times within the NYSE sessions: by the automatic stale-data
halt, the Health page's market-data check, the Overview's price marks and the risk book's note. Real HTTP to the
fake Alpaca (market data and broker), the real market job (market_tick), sync and Dash app, on SQLite and PostgreSQL.

Hand timelines (XNYS, America/New_York, EST = UTC-5 in December 2026; default stale_data_seconds 300 s; Alpaca
cadence 60 s bar + max(tick 1 s, poll 10 s) = 70 s, so the Health check is degraded from 85 s, unhealthy from
3 * 70 + 60 = 270 s):
- Tuesday 2026-12-08 11:00:05 New York (16:00:05 UTC), session open since 09:30. A feed arriving 25 minutes behind:
  newest bar 10:34 (15:34 UTC), it ends 15:35:00, the poll brought it at 16:00:05: the newest price is 1505 s old
  (25 min 5 s) > 300 s -> REDUCING, and > 270 s -> Health unhealthy, "newest data 25 min old". Before: both read
  the poll's arrival (0 s old): no halt, healthy. The feed then catches up (newest bar 10:59, ends 11:00:00):
  5 s old, healthy (the REDUCING stays until an operator resumes; no new trigger fires).
- Saturday 2026-12-05 12:00 New York (17:00 UTC), no session since Friday's 16:00 close (21:00 UTC). Bars through
  Friday 15:59 (20:59 UTC, it ends 21:00 = the close): 0 s before the close: fresh. No halt, Health healthy,
  no 'stale' mark on the Overview (prices or the position), the risk book's note empty. Before: the Overview
  marked every price stale (20 h old) and the note named AAA.
- The same Saturday after a feed that died Friday at 14:00 New York (bars through 13:59, ending 19:00 UTC): its
  data ended 2 h (7200 s) before the close: stale for the Overview and the risk book, unhealthy for Health
  (before: Health did not grade data age on a closed market: healthy).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from engine.clock import ManualClock
from engine.context import EngineContext
from engine.health.checks import check_market_data
from engine.health.grades import HEALTHY, UNHEALTHY
from engine.jobs import market_tick
from engine.market.alpaca_source import AlpacaMarketSource
from engine.portfolio_risk.book import read_book
from engine.settings import load_settings
from engine.store.migrate import open_store
from engine.store.models import Instrument, JobRun
from engine.trading import auto_halts
from engine.trading import state as trading_state
from engine.trading.brokers.alpaca import AlpacaBroker
from engine.trading.state import TradingState
from engine.trading.sync import sync_from_broker
from tests import web_requests as wr
from tests.auth_helpers import login_client
from tests.fake_alpaca import FakeAlpacaServer
from tests.integration.test_overview_stale_prices import rows_of
from tests.trading_control_fixtures import LOOSE

TUESDAY = datetime(2026, 12, 8, 16, 0, 5, tzinfo=UTC)  # 11:00:05 New York, in the regular session
SATURDAY = datetime(2026, 12, 5, 17, 0, tzinfo=UTC)  # 12:00 New York, no session
FRIDAY_LAST = datetime(2026, 12, 4, 20, 59, tzinfo=UTC)  # Friday 15:59 New York: the session's last minute bar


@contextmanager
def desk(tmp_path: Path, url: str, srv: FakeAlpacaServer, now: datetime) -> Iterator[EngineContext]:
    """A store with AAA and SPY, the fake Alpaca as market source and broker, a clock fixed at `now`; the market job
    polled once (and its successful run recorded: Health's 'last successful fetch') and the broker synced."""
    store = open_store(url, migrate=True)
    clock = ManualClock(now)
    with store.write() as s:
        trading_state.ensure_state(s, now)
        for sym, kind in (("AAA", "stock"), ("SPY", "index")):
            s.add(Instrument(symbol=sym, kind=kind, has_options=False, source="alpaca"))
    settings = load_settings(database_url=url, market_source="alpaca", broker="alpaca", tick_seconds=1,
                             alpaca_poll_seconds=10, alpaca_key_id=srv.key_id, alpaca_secret_key=srv.secret_key,
                             alpaca_base_url=srv.url, deadman_seconds=0, warmup_polls=0)
    source = AlpacaMarketSource(srv.key_id, srv.secret_key, ["AAA"], "SPY", srv.url, timeout_s=5.0, clock=clock,
                                history=timedelta(days=2))
    broker = AlpacaBroker(srv.key_id, srv.secret_key, url_override=srv.url, timeout_s=5.0, retry_wait_s=0.01,
                          clock=clock)
    ctx = EngineContext(settings=settings, store=store, clock=clock, broker=broker, source=source)
    try:
        market_tick(ctx)
        with store.write() as s:
            s.add(JobRun(job="market", engine_id="test", started_at=now, duration_ms=1.0, outcome="ok"))
        sync_from_broker(ctx, LOOSE)
        yield ctx
    finally:
        store.dispose()


def _bars(srv: FakeAlpacaServer, last: datetime, count: int = 30) -> None:
    """`count` 1-minute bars of SPY and AAA ending with the one stamped `last` (AAA closes at 50)."""
    for i in range(count):
        ts = last - timedelta(minutes=count - 1 - i)
        srv.book.add_bar("SPY", ts, 600, 601, 599, 600, 1000)
        srv.book.add_bar("AAA", ts, 50, 50, 50, 50, 1000)


def _state(ctx: EngineContext) -> TradingState:
    with ctx.store.read() as s:
        return trading_state.current(s).state


def _overview(ctx: EngineContext) -> tuple[list[Any], list[Any]]:
    """The Overview's Prices and Positions rows through the real Dash app (viewer login) on this desk's store
    and clock."""
    from app import create_app

    app = create_app(ctx.settings, context=ctx, start_engine=False)
    client = login_client(app, "viewer")
    deps, tick = wr.dependencies(client), {"overview-interval.n_intervals": 1}
    tables = []
    for output, key in (("overview-prices.children", "overview-prices"),
                        ("overview-positions.children", "overview-positions")):
        got = wr.call(client, wr.find(deps, output), tick, trigger="overview-interval.n_intervals").get_json()
        tables.append(rows_of(got["response"][key]["children"]))
    return tables[0], tables[1]


def test_a_feed_25_minutes_behind_in_session_reduces_and_is_unhealthy(tmp_path: Path, any_db_url: str) -> None:
    with FakeAlpacaServer() as srv:
        srv.book.market_open = True
        _bars(srv, datetime(2026, 12, 8, 15, 34, tzinfo=UTC))  # 10:34 New York, ends 15:35:00 UTC
        with desk(tmp_path, any_db_url, srv, TUESDAY) as ctx:
            changes = auto_halts.evaluate(ctx)
            assert [c.to_state for c in changes] == [TradingState.REDUCING], changes
            assert changes[0].reason.startswith("stale market data: the newest price is 1505s old (limit 300s)")
            assert _state(ctx) is TradingState.REDUCING
            health = check_market_data(ctx, TUESDAY)
            assert health.status == UNHEALTHY, health.detail
            assert "newest data 25 min old (new bars expected every 70 s)" in health.detail, health.detail
            # the feed catches up: bars through 10:59 (ends 11:00:00), 5 s old
            _bars(srv, datetime(2026, 12, 8, 15, 59, tzinfo=UTC), count=25)
            market_tick(ctx)
            assert auto_halts.evaluate(ctx) == []
            health = check_market_data(ctx, TUESDAY)
            assert health.status == HEALTHY, health.detail
            assert "newest data 5 s old" in health.detail, health.detail


def test_fridays_closing_bars_are_fresh_all_saturday(tmp_path: Path, any_db_url: str) -> None:
    with FakeAlpacaServer() as srv:
        srv.book.market_open = False
        srv.book.set_position("AAA", Decimal(10), Decimal(40))
        srv.book.prices["AAA"] = Decimal(51)
        _bars(srv, FRIDAY_LAST)
        with desk(tmp_path, any_db_url, srv, SATURDAY) as ctx:
            prices, positions = _overview(ctx)
            assert prices == [(None, ["SPY", "600.00", "+0.00%", "2026-12-04 20:59"]),  # the index first
                              (None, ["AAA", "50.00", "+0.00%", "2026-12-04 20:59"])], prices
            assert [(cls, cells[0], cells[-1]) for cls, cells in positions] == [
                (None, "AAA", "2026-12-05 17:00")], positions  # the broker's report: now
            with ctx.store.read() as s:
                book = read_book(s, equity=100_000.0)
            assert book.stale_note == "", book.stale_note
            assert [float(v) for v in book.values] == [500.0]  # 10 x Friday's close 50 (not the broker's 51)
            before = _state(ctx)
            assert auto_halts.evaluate(ctx) == [] and _state(ctx) is before
            health = check_market_data(ctx, SATURDAY)
            assert health.status == HEALTHY, health.detail
            assert "market closed since 2026-12-04 21:00 UTC: newest data 0 s older than that close" in health.detail


def test_a_feed_that_died_two_hours_before_fridays_close_is_stale_on_saturday(tmp_path: Path,
                                                                             any_db_url: str) -> None:
    with FakeAlpacaServer() as srv:
        srv.book.market_open = False
        srv.book.set_position("AAA", Decimal(10), Decimal(40))
        srv.book.prices["AAA"] = Decimal(51)
        _bars(srv, datetime(2026, 12, 4, 18, 59, tzinfo=UTC))  # 13:59 New York, ends 19:00 UTC: 2 h before 21:00
        with desk(tmp_path, any_db_url, srv, SATURDAY) as ctx:
            health = check_market_data(ctx, SATURDAY)
            assert health.status == UNHEALTHY, health.detail  # 7200 s >= 270 s
            assert "market closed since 2026-12-04 21:00 UTC: newest data 2.0 h older than that close" in health.detail
            assert auto_halts.evaluate(ctx) == []  # no trigger while the broker says the market is closed
            with ctx.store.read() as s:
                book = read_book(s, equity=100_000.0)
            assert [float(v) for v in book.values] == [510.0]  # 10 x the broker's 51
            assert book.stale_note == ("stale prices (last close older than the stale-data limit of 300 s): AAA (last "
                                       "close 2 h old, valued at the broker's market price 51.00)"), book.stale_note
            prices, _positions = _overview(ctx)
            assert prices == [("table-warning", ["SPY", "600.00", "+0.00%", "2026-12-04 18:59 stale"]),
                              ("table-warning", ["AAA", "50.00", "+0.00%", "2026-12-04 18:59 stale"])], prices
