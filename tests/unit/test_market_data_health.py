"""The "market data" health check grades the data's age, not only the market job's (on SQLite and PostgreSQL),
and the banner's market-hours answer never waits on Alpaca's /v2/clock (the real AlpacaBroker over HTTP
against the fake Alpaca server)."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from engine.clock import ManualClock
from engine.health.checks import check_market_data
from engine.runtime import build_context
from engine.settings import load_settings
from engine.store.keyvalue import MARKET_DATA_KEY
from engine.store.models import BarRow, JobRun, KeyValue
from engine.trading.brokers.alpaca import AlpacaBroker
from engine.trading.control import SimpleControlContext
from tests.fake_alpaca import FakeAlpacaServer
from tests.trading_control_fixtures import make_store
from webapp.deadman import DeadmanWatcher

KEY, SECRET = "test-key", "test-secret-never-shown"
SESSION = datetime(2026, 3, 2, 16, 0, tzinfo=UTC)  # Monday 11:00 New York: XNYS regular session
CLOSED = datetime(2026, 3, 7, 16, 0, tzinfo=UTC)  # Saturday: no session


def _context(url: str, now: datetime, source: str = "alpaca"):  # type: ignore[no-untyped-def]
    settings = load_settings(database_url=url, market_source=source, alpaca_poll_seconds=10, tick_seconds=1,
                             alpaca_key_id=KEY, alpaca_secret_key=SECRET)
    return build_context(settings, with_source=False, migrate=True, clock=ManualClock(now))


def _store(ctx, now: datetime, newest_bar: datetime, mark: datetime | None) -> None:  # type: ignore[no-untyped-def]
    """The market job succeeded 3 s ago; the newest bar and (optionally) the received-at mark as given."""
    with ctx.store.write() as s:
        s.add(BarRow(symbol="SPY", ts=newest_bar, open=1, high=1, low=1, close=1, volume=1))
        s.add(JobRun(job="market", engine_id="e1", started_at=now - timedelta(seconds=3), duration_ms=5.0,
                     outcome="ok", error=None))
        if mark is not None:
            s.add(KeyValue(key=MARKET_DATA_KEY, value={"ts": mark.isoformat(), "cadence_s": 70.0}, updated_at=mark))


@pytest.mark.parametrize("with_mark", [True, False], ids=["mark", "bars-only"])
def test_a_feed_bringing_nothing_for_two_hours_is_unhealthy_in_session(any_db_url: str, with_mark: bool) -> None:
    ctx = _context(any_db_url, SESSION)
    two_hours = SESSION - timedelta(hours=2)
    _store(ctx, SESSION, two_hours, two_hours + timedelta(seconds=62) if with_mark else None)
    check = check_market_data(ctx, SESSION)
    # mark: 7138 s old; bars only: the bar ended at 14:01, 7140 s ago; both past 3 * 70 + 60 = 270 s
    assert check.status == "unhealthy", check
    assert "newest data 2.0 h old" in check.detail
    ctx.store.dispose()


@pytest.mark.parametrize(("mark_age_s", "expected"), [(50, "healthy"), (84, "healthy"), (85, "degraded"),
                                                      (269, "degraded"), (270, "unhealthy")])
def test_data_age_is_graded_against_the_alpaca_cadence(any_db_url: str, mark_age_s: int, expected: str) -> None:
    """Cadence 60 s bar + 10 s poll = 70 s: degraded from 70 + 15 = 85 s, unhealthy from 3 * 70 + 60 = 270 s."""
    ctx = _context(any_db_url, SESSION)
    _store(ctx, SESSION, SESSION - timedelta(minutes=5), SESSION - timedelta(seconds=mark_age_s))
    assert check_market_data(ctx, SESSION).status == expected
    ctx.store.dispose()


def test_a_closed_market_grades_only_the_job(any_db_url: str) -> None:
    ctx = _context(any_db_url, CLOSED)
    friday_close = datetime(2026, 3, 6, 21, 0, tzinfo=UTC)
    _store(ctx, CLOSED, friday_close - timedelta(minutes=1), friday_close)
    check = check_market_data(ctx, CLOSED)
    assert check.status == "healthy" and "market closed" in check.detail, check
    ctx.store.dispose()


@pytest.fixture
def alpaca() -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as srv:
        yield srv


def _watcher(tmp_path, srv: FakeAlpacaServer, now: datetime) -> DeadmanWatcher:  # type: ignore[no-untyped-def]
    clock = ManualClock(now)
    broker = AlpacaBroker(KEY, SECRET, paper=True, url_override=srv.url, timeout_s=5.0, deadline_s=10.0,
                          retry_attempts=1, clock=clock)
    return DeadmanWatcher(SimpleControlContext(store=make_store(tmp_path), clock=clock, broker=broker), 30.0, "none")


def _concurrent(fn, n: int = 4) -> tuple[list[object], float]:  # type: ignore[no-untyped-def]
    """fn(i) in n threads at once; (results, wall seconds)."""
    results: list[object] = [None] * n
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, fn(i))) for i in range(n)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results, time.monotonic() - t0


@pytest.mark.parametrize(("now", "calendar_says"), [(SESSION, True), (CLOSED, False)])
def test_banner_reads_never_wait_on_a_slow_alpaca_clock(tmp_path, alpaca: FakeAlpacaServer, now: datetime,
                                                        calendar_says: bool) -> None:
    alpaca.inject("GET", "/v2/clock", "delay", times=10, delay_s=3.0)
    watcher = _watcher(tmp_path, alpaca, now)
    answers, took = _concurrent(lambda _i: watcher.market_open())
    assert answers == [calendar_says] * 4  # no answer from Alpaca yet: the XNYS calendar, not a blind "open"
    assert took < 1.5, f"four banner reads took {took:.1f} s: they waited on /v2/clock (3 s)"
    assert alpaca.hits_for("GET", "/v2/clock") == 0

    alpaca.book.market_open = not calendar_says  # Alpaca disagrees (a holiday the calendar missed, say)
    assert watcher.refresh_market_open() is (not calendar_says)  # the watcher's thread asks, and waits
    assert alpaca.hits_for("GET", "/v2/clock") == 1
    answers, took = _concurrent(lambda _i: watcher.market_open())
    assert answers == [not calendar_says] * 4 and took < 1.5  # the watcher's answer, cached
    assert alpaca.hits_for("GET", "/v2/clock") == 1


CLOCK_DELAY_S = 6.0  # the slow /v2/clock answer, within the broker's 10 s timeout


def test_four_concurrent_banner_callbacks_do_not_wait_on_a_slow_alpaca_clock(tmp_path, alpaca: FakeAlpacaServer) -> None:
    """The reviewer's case over HTTP: the banner's engine-line callback in four request threads at once."""
    from app import create_app  # local import: building the Dash app is only this test's business
    from tests.auth_helpers import login_client
    from tests.web_requests import call, dependencies, find
    from webapp.deadman import EXTENSION_KEY

    settings = load_settings(database_url=f"sqlite:///{tmp_path}/web.db", engine_mode="none", deadman_seconds=30,
                             deadman_action="none", market_source="alpaca", alpaca_key_id=KEY, alpaca_secret_key=SECRET)
    ctx = build_context(settings, with_source=False, migrate=True, clock=ManualClock(SESSION))
    ctx.broker = AlpacaBroker(KEY, SECRET, paper=True, url_override=alpaca.url, timeout_s=10.0, deadline_s=20.0,
                              retry_attempts=1, clock=ctx.clock)
    alpaca.inject("GET", "/v2/clock", "delay", times=10, delay_s=CLOCK_DELAY_S)
    app = create_app(settings, context=ctx)
    try:
        clients = [login_client(app, "viewer", f"viewer{i}") for i in range(4)]
        banner = find(dependencies(clients[0]), "banner-engine.children")
        start = threading.Barrier(4)

        def refresh(i: int) -> int:
            start.wait(timeout=30)
            return int(call(clients[i], banner, {"banner-interval.n_intervals": 1}).status_code)

        responses, took = _concurrent(refresh)
        assert responses == [200] * 4
        # waiting on the clock takes at least CLOCK_DELAY_S; not waiting took up to 2.0 s on a loaded CI machine
        assert took < CLOCK_DELAY_S - 1.5, f"four banner callbacks took {took:.1f} s: they waited on /v2/clock"
    finally:
        app.server.extensions[EXTENSION_KEY].stop(timeout_s=15)
        ctx.store.dispose()

