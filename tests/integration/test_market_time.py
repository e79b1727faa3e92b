"""Issue 9 item 9, market time: the source's exchange decides the trading day of the daily-loss limit.

Alpaca (US equities) -> XNYS in America/New_York from exchange-calendars; the simulated market -> its
configured timezone, by default the workbook's MasterConfiguration market_timezone (Asia/Kolkata in the
reference workbook). Expectations are hand-computed: EST is UTC-5 (until 2026-03-08), EDT UTC-4, IST UTC+5:30.
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest

from engine.clock import ManualClock
from engine.context import EngineContext
from engine.health.checks import DEGRADED, HEALTHY
from engine.health.market_checks import check_alpaca_budget, check_market_time
from engine.market.exchange import alpaca_calendar, calendar_for_settings, timezone_warning
from engine.settings import load_settings
from engine.store.migrate import open_store
from engine.trading.brokers.alpaca import AlpacaBroker
from engine.trading.brokers.alpaca_limits import RateLimiter
from engine.trading.equity import read_marks, trading_day
from engine.trading.sync import sync_from_broker
from tests.fake_alpaca import FakeAlpacaServer
from tests.trading_control_fixtures import LOOSE

D = Decimal
KEY, SECRET = "tz-key", "tz-secret"
assert LOOSE.market_timezone == "Asia/Kolkata", "the workbook's zone, which the Alpaca source must override"


def utc(*a: int) -> datetime:
    return datetime(*a, tzinfo=UTC)


def test_xnys_trading_day_boundaries() -> None:
    nyse = alpaca_calendar()
    assert (nyse.exchange, nyse.timezone) == ("XNYS", "America/New_York")
    # Tuesday 2026-03-03 00:00 EST is 05:00 UTC
    assert nyse.trading_day(utc(2026, 3, 3, 4, 59, 59)) == "2026-03-02"
    assert nyse.trading_day(utc(2026, 3, 3, 5, 0, 0)) == "2026-03-03"
    # summer: Wednesday 2026-07-08 00:00 EDT is 04:00 UTC
    assert nyse.trading_day(utc(2026, 7, 8, 3, 59)) == "2026-07-07"
    assert nyse.trading_day(utc(2026, 7, 8, 4, 0)) == "2026-07-08"
    # a weekend and a holiday belong to the next session: Sat 2026-03-07 -> Mon 03-09;
    # Fri 2026-07-03 (Independence Day observed) -> Mon 07-06
    assert nyse.trading_day(utc(2026, 3, 7, 15, 0)) == "2026-03-09"
    assert nyse.trading_day(utc(2026, 7, 3, 15, 0)) == "2026-07-06"
    # the workbook's Asia/Kolkata would have rolled mid-session: 19:00 UTC is 00:30 IST the next day
    assert trading_day(utc(2026, 3, 2, 19, 0), "Asia/Kolkata") == "2026-03-03"
    assert nyse.trading_day(utc(2026, 3, 2, 19, 0)) == "2026-03-02"
    # sessions: 09:30-16:00 EST = 14:30-21:00 UTC; extended 04:00-20:00 EST = 09:00-01:00 UTC
    assert nyse.is_regular_open(utc(2026, 3, 2, 14, 30)) and not nyse.is_regular_open(utc(2026, 3, 2, 21, 0))
    assert nyse.in_extended_hours(utc(2026, 3, 2, 9, 0)) and not nyse.in_extended_hours(utc(2026, 3, 2, 8, 59))
    assert not nyse.in_extended_hours(utc(2026, 3, 7, 15, 0)), "no extended hours on a Saturday"


@pytest.fixture
def server() -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as srv:
        yield srv


def alpaca_ctx(tmp_path, url: str, srv: FakeAlpacaServer, clock: ManualClock, source: str = "alpaca"
               ) -> EngineContext:
    settings = load_settings(database_url=url, market_source=source, csv_dir=tmp_path, broker="alpaca",
                             alpaca_key_id=KEY, alpaca_secret_key=SECRET, alpaca_base_url=srv.url)
    broker = AlpacaBroker(KEY, SECRET, url_override=srv.url, timeout_s=1.0, clock=clock,
                          limiter=RateLimiter(per_minute=60_000, burst=1000))
    return EngineContext(settings=settings, store=open_store(url, migrate=True), clock=clock, broker=broker,
                         source=None)


def test_the_daily_loss_day_of_an_alpaca_source_follows_new_york(tmp_path, any_db_url: str, server: FakeAlpacaServer) -> None:
    """Over real HTTP: the account sync moves the start-of-day equity at New York's midnight, not Kolkata's."""
    clock = ManualClock(utc(2026, 3, 2, 14, 35))  # Monday 09:35 New York
    ctx = alpaca_ctx(tmp_path, any_db_url, server, clock)
    server.book.cash = D("100000")
    sync_from_broker(ctx, LOOSE)
    server.book.cash = D("95000")
    clock.advance(utc(2026, 3, 2, 19, 0) - clock.now())  # 14:00 New York = 00:30 IST Tuesday
    sync_from_broker(ctx, LOOSE)
    with ctx.store.read() as s:
        marks = read_marks(s)
    assert (marks.day, marks.start_of_day, marks.equity) == ("2026-03-02", D("100000"), D("95000")), \
        "still Monday in New York: the 5% loss counts against Monday's start"
    server.book.cash = D("94000")
    clock.advance(utc(2026, 3, 3, 4, 59, 59) - clock.now())  # 23:59:59 New York Monday
    sync_from_broker(ctx, LOOSE)
    with ctx.store.read() as s:
        assert read_marks(s).day == "2026-03-02"
    server.book.cash = D("93000")
    clock.advance(utc(2026, 3, 3, 5, 0) - clock.now())  # midnight New York: Tuesday starts
    sync_from_broker(ctx, LOOSE)
    with ctx.store.read() as s:
        marks = read_marks(s)
    assert (marks.day, marks.start_of_day) == ("2026-03-03", D("93000"))
    ctx.store.dispose()


def test_the_same_sync_on_the_simulated_market_follows_the_workbook(tmp_path, any_db_url: str, server: FakeAlpacaServer) -> None:
    """Contrast: a source without an exchange counts the day in the workbook's zone (Asia/Kolkata)."""
    clock = ManualClock(utc(2026, 3, 2, 14, 35))
    ctx = alpaca_ctx(tmp_path, any_db_url, server, clock, source="csv")
    sync_from_broker(ctx, LOOSE)
    clock.advance(utc(2026, 3, 2, 19, 0) - clock.now())
    sync_from_broker(ctx, LOOSE)
    with ctx.store.read() as s:
        assert read_marks(s).day == "2026-03-03", "00:30 IST is Tuesday in Kolkata"
    ctx.store.dispose()


def test_a_workbook_timezone_that_disagrees_is_a_warning(tmp_path, any_db_url: str, server: FakeAlpacaServer) -> None:
    alpaca = SimpleNamespace(market_source="alpaca")
    warning = timezone_warning(calendar_for_settings(alpaca, "Asia/Kolkata"), "Asia/Kolkata")
    assert warning and "Asia/Kolkata" in warning and "XNYS (America/New_York)" in warning
    assert timezone_warning(calendar_for_settings(alpaca, "US/Eastern"), "US/Eastern") is None, "same zone, other name"
    sim = SimpleNamespace(market_source="simulated", market_timezone=None)
    assert calendar_for_settings(sim, "Asia/Kolkata").timezone == "Asia/Kolkata"
    assert timezone_warning(calendar_for_settings(sim, "Asia/Kolkata"), "Asia/Kolkata") is None
    sim_ny = SimpleNamespace(market_source="simulated", market_timezone="America/New_York")
    assert timezone_warning(calendar_for_settings(sim_ny, "Asia/Kolkata"), "Asia/Kolkata") is not None
    ctx = alpaca_ctx(tmp_path, any_db_url, server, ManualClock(utc(2026, 3, 2, 14, 35)))
    check = check_market_time(ctx)  # the default workbook says Asia/Kolkata
    assert check.status == DEGRADED and "Asia/Kolkata" in check.detail and "America/New_York" in check.detail
    csv = alpaca_ctx(tmp_path, any_db_url, server, ManualClock(utc(2026, 3, 2, 14, 35)), source="csv")
    ok = check_market_time(csv)
    assert ok.status == HEALTHY and "trading day 2026-03-02" in ok.detail
    assert check_alpaca_budget(csv) != [], "the Alpaca broker's request budget is a check"
    ctx.store.dispose()
    csv.store.dispose()


def test_health_and_parameters_pages_show_the_timezone_warning(tmp_path, any_db_url: str, server: FakeAlpacaServer) -> None:
    from app import create_app

    ctx = alpaca_ctx(tmp_path, any_db_url, server, ManualClock(utc(2026, 3, 2, 14, 35)))
    application = create_app(ctx.settings.model_copy(update={"engine_mode": "none"}), context=ctx)
    from pages import health, parameters  # pages register with the app: import after create_app

    with application.server.test_request_context("/"):
        health_page, params_page = str(health.layout()), str(parameters.layout())
    for page in (health_page, params_page):
        assert "Market timezone" in page and "Asia/Kolkata" in page and "XNYS (America/New_York)" in page
    assert "operator actions: wall-clock time (UTC)" in health_page
    ctx.store.dispose()


def test_every_page_says_which_clock_its_times_are_in(tmp_path, any_db_url: str, server: FakeAlpacaServer) -> None:
    from webapp.market_time import clock_note

    ctx = alpaca_ctx(tmp_path, any_db_url, server, ManualClock(utc(2026, 3, 2, 14, 35)))
    assert "all wall-clock" in clock_note(ctx)
    sim = SimpleNamespace(settings=load_settings(database_url="sqlite://", market_source="simulated",
                                                 sim_minutes_per_tick=1, tick_seconds=1.0))
    note = clock_note(sim)
    assert "simulated market time (x60" in note and "operator actions (audit): wall-clock time" in note
    from app import create_app

    application = create_app(ctx.settings.model_copy(update={"engine_mode": "none"}), context=ctx)
    with application.server.test_request_context("/"):
        shell = str(application.layout())  # the shell around every page
    assert "app-clock-note" in shell and "all wall-clock" in shell
    ctx.store.dispose()


def test_metrics_carry_the_request_budget_and_the_market_time_check(tmp_path, any_db_url: str, server: FakeAlpacaServer) -> None:
    """The engine's health job stores both checks; /metrics (rendered from the stored results) exposes them."""
    from prometheus_client.parser import text_string_to_metric_families

    from engine.health.recorder import HealthRecorder
    from webapp.metrics import render_metrics

    ctx = alpaca_ctx(tmp_path, any_db_url, server, ManualClock(utc(2026, 3, 2, 14, 35)))
    ctx.broker.get_account()
    ctx.broker.get_positions()
    HealthRecorder(ctx).run(ctx)  # its broker probe is one more request: 3 in the last minute
    samples = {(s.name, s.labels.get("check")): s.value
               for fam in text_string_to_metric_families(render_metrics(ctx).decode())
               for s in fam.samples}
    assert samples[("regimedesk_health_value", "alpaca request budget")] == 3.0
    assert samples[("regimedesk_health_status", "alpaca request budget")] == 0.0
    assert samples[("regimedesk_health_status", "market time")] == 1.0, "Asia/Kolkata workbook vs XNYS: degraded"
    ctx.store.dispose()
