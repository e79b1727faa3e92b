"""Performance page, audit 4 defects 1, 2, 3 and 5, on SQLite and PostgreSQL; every expectation is computed by hand.

1. On an exchange (Alpaca, XNYS) the hourly grid keeps session-hour closes only: a pre-market, after-hours or
   weekend snapshot counts for the next session's first hour, so 252 x 7 annualises the returns measured.
2. Two snapshots at one market time (the simulated clock stands still within a tick) do not fail the page.
3. P&L per regime is attributed to the regime the engine acted on ("uncertain" included), as backtests do.
5. Picked days are the market's days: XNYS session days in New York, a timezone's calendar days without an exchange.
"""
from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from engine.market.exchange import MarketCalendar, alpaca_calendar
from engine.store.migrate import open_store
from engine.store.models import AccountSnapshot, Instrument, RegimeSnapshot
from engine.store.performance_queries import regime_changes
from tests import web_requests as wr
from webapp.performance_data import build_view, day_bounds

NY = ZoneInfo("America/New_York")


def _store(url: str, rows: list[tuple[datetime, float]]) -> Any:
    store = open_store(url, migrate=True)
    with store.write() as s:
        for ts, eq in rows:
            s.add(AccountSnapshot(ts=ts.astimezone(UTC), broker="paper", cash=Decimal(str(eq)),
                                  equity=Decimal(str(eq)), buying_power=Decimal(str(eq)), gross_exposure=Decimal(0)))
    return store


def _ny(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=NY)


# Tue 1 Dec and Wed 2 Dec 2026 are XNYS sessions 09:30-16:00 New York; Sat 5 Dec belongs to Mon 7 Dec.
SESSION_ROWS = [(_ny(1, 8), 100_000.0),  # pre-market: the opening, in Tuesday's 09:00 hour
                (_ny(1, 9, 45), 100_100.0),  # Tue 09:00 hour close
                (_ny(1, 10, 30), 100_300.0),  # Tue 10:00 hour close
                (_ny(1, 15, 50), 100_600.0),  # Tue 15:00 hour close
                (_ny(1, 16), 100_600.0),  # at the close: outside the session -> Wed 09:00 hour
                (_ny(1, 19, 30), 99_000.0),  # after hours -> Wed 09:00 hour
                (_ny(2, 3), 99_200.0),  # night -> Wed 09:00 hour
                (_ny(2, 9, 40), 99_500.0),  # Wed 09:00 hour close
                (_ny(2, 11, 15), 100_000.0),  # Wed 11:00 hour close
                (_ny(5, 12), 100_000.0)]  # Saturday -> Mon 7 Dec 09:00 hour (the last close)


def test_xnys_hourly_grid_keeps_session_hour_closes(any_db_url: str) -> None:
    store = _store(any_db_url, SESSION_ROWS)
    try:
        with store.read() as s:
            view = build_view(s, None, None, 390.0, alpaca_calendar(), 252.0)
    finally:
        store.dispose()
    assert view is not None and view.grid is not None and view.grid_equity is not None
    closes = [100_000.0, 100_100.0, 100_300.0, 100_600.0, 99_500.0, 100_000.0, 100_000.0]  # hand: opening + 6 closes
    assert view.grid.kind == "hourly" and view.grid.periods_per_year == 252 * 7
    assert view.grid_equity.tolist() == closes
    assert list(view.grid_equity.index) == [_ny(1, 8), _ny(1, 9, 45), _ny(1, 10, 30), _ny(1, 15, 50), _ny(2, 9, 40),
                                            _ny(2, 11, 15), _ny(5, 12)]
    returns = [0.001, 200 / 100_100, 300 / 100_300, -1_100 / 100_600, 500 / 99_500, 0.0]
    assert view.metrics["volatility"] == pytest.approx(np.std(returns, ddof=1) * math.sqrt(1764), rel=1e-9)
    assert view.metrics["return_frequency"] == "hourly closes (America/New_York, XNYS regular session)"
    assert "XNYS regular session" in view.definitions["return_frequency"]


def test_first_snapshots_at_one_market_time_keep_the_last(any_db_url: str) -> None:
    t0 = datetime(2026, 1, 6, 0, 30, tzinfo=UTC)
    rows = [(t0, 100_000.0), (t0, 100_050.0), (t0 + timedelta(minutes=1), 100_100.0),
            (t0 + timedelta(minutes=2), 100_200.0)]
    store = _store(any_db_url, rows)
    try:
        with store.read() as s:
            view = build_view(s, None, None, 1440.0, None, 365.0)
    finally:
        store.dispose()
    assert view is not None and view.grid is not None and view.grid_equity is not None
    assert view.grid.kind == "minute"
    assert view.grid_equity.tolist() == [100_050.0, 100_100.0, 100_200.0]  # the later snapshot at t0 opens
    assert view.metrics["total_return"] == pytest.approx(150 / 100_050, rel=1e-12)
    assert view.daily.to_dict("records") == [{"day": "2026-01-06", "pnl": 150.0}]  # agrees with the return


def _regime(ts: datetime, rule: str, effective: str | None, status: str | None) -> RegimeSnapshot:
    return RegimeSnapshot(ts=ts, symbol="IDX", regime_id=1, regime_name=rule, confidence=0.9, raw_score=0.0,
                          volatility_value=0.0, volatility_class="low", trend_value=0.0, trend_class="up",
                          time_in_regime_s=0.0, is_transition=False, modules={},
                          effective_regime_id=None if effective is None else 2, effective_regime_name=effective,
                          regime_status=status, regime_reason=None if status is None else "test")


def test_pnl_per_regime_uses_the_regime_the_engine_acted_on(any_db_url: str) -> None:
    t0 = datetime(2026, 12, 1, 14, tzinfo=UTC)
    equity = [100_000, 101_000, 102_000, 101_500, 103_000, 103_500]  # hourly
    store = _store(any_db_url, [(t0 + timedelta(hours=i), float(e)) for i, e in enumerate(equity)])
    try:
        with store.write() as s:
            s.add(Instrument(symbol="IDX", kind="index", has_options=False, source="simulated"))
            s.add(_regime(t0 - timedelta(hours=1), "BEAR", None, None))  # stored before 0012: its rule name
            s.add(_regime(t0, "BULL", None, "uncertain"))  # rules say BULL, the engine acted on no regime
            s.add(_regime(t0 + timedelta(hours=1), "BULL", None, "uncertain"))  # no change
            s.add(_regime(t0 + timedelta(hours=3), "BULL", "RANGE", "ensemble"))
        with store.read() as s:
            changes = regime_changes(s, "IDX", None)
            view = build_view(s, None, None, 1440.0, None, 365.0)
    finally:
        store.dispose()
    assert changes.tolist() == ["BEAR", "uncertain", "RANGE"]
    assert list(changes.index) == [t0 - timedelta(hours=1), t0, t0 + timedelta(hours=3)]
    assert view is not None
    per_regime = view.metrics["per_regime"]
    assert isinstance(per_regime, dict)
    per = {k: (v["pnl"], round(v["time_share"], 9)) for k, v in per_regime.items()}
    assert per == {"uncertain": (1_500.0, 0.6), "RANGE": (2_000.0, 0.4)}  # 101,500 - 100,000; 103,500 - 101,500


def test_day_bounds_are_the_markets_days() -> None:
    xnys = alpaca_calendar()
    wed = date(2026, 12, 2)
    assert day_bounds(wed, wed, xnys) == (datetime(2026, 12, 2, 5, tzinfo=UTC),  # New York midnight (EST)
                                          datetime(2026, 12, 3, 4, 59, 59, 999999, tzinfo=UTC))
    # Monday's session begins after Friday's: Saturday 00:00 New York; a Saturday end is Friday's session
    assert day_bounds(date(2026, 12, 7), date(2026, 12, 5), xnys) == (
        datetime(2026, 12, 5, 5, tzinfo=UTC), datetime(2026, 12, 5, 4, 59, 59, 999999, tzinfo=UTC))
    tokyo = MarketCalendar(timezone="Asia/Tokyo")  # no exchange: calendar days in Tokyo (UTC+9)
    assert day_bounds(wed, wed, tokyo) == (datetime(2026, 12, 1, 15, tzinfo=UTC),
                                           datetime(2026, 12, 2, 14, 59, 59, 999999, tzinfo=UTC))
    assert day_bounds(wed, None) == (datetime(2026, 12, 2, tzinfo=UTC), None)  # no calendar: UTC, as before


def test_a_picked_session_day_shows_only_its_bar(any_db_url: str) -> None:
    rows = [(_ny(1, 10), 100_000.0), (_ny(1, 15, 59), 101_000.0),
            (_ny(1, 19, 30), 99_000.0),  # Tuesday after hours = Wednesday 00:30 UTC: Tuesday's session
            (_ny(2, 15, 59), 99_500.0)]
    store = _store(any_db_url, rows)
    calendar = alpaca_calendar()
    start, end = day_bounds(date(2026, 12, 2), date(2026, 12, 2), calendar)
    try:
        with store.read() as s:
            view = build_view(s, start, end, 390.0, calendar, 252.0)
    finally:
        store.dispose()
    assert view is not None
    assert view.daily.to_dict("records") == [{"day": "2026-12-02", "pnl": 500.0}]  # 99,500 - 99,000
    assert view.metrics["total_return"] == pytest.approx(500 / 99_000, rel=1e-12)


TOKYO = ZoneInfo("Asia/Tokyo")


def _tokyo_viewer(url: str) -> tuple[Any, Any]:
    """(a viewer's test client, the app's store) of an app whose simulated market is in Tokyo."""
    from app import create_app
    from engine.settings import load_settings
    from tests.auth_helpers import login_client
    from webapp.context import get_context

    settings = load_settings(database_url=url, tick_seconds=0.25, warmup_polls=0, port=8063, deadman_seconds=0,
                             market_timezone="Asia/Tokyo")
    app = create_app(settings, start_engine=False)
    client = login_client(app, "viewer")
    with app.server.test_request_context("/"):
        return client, get_context().store


def test_the_page_reads_picked_days_in_the_markets_timezone(any_db_url: str) -> None:
    """Through the app's callback (viewer login): a simulated market in Tokyo, one picked day."""
    client, store = _tokyo_viewer(any_db_url)
    with store.write() as s:
        for local, eq in [(datetime(2026, 11, 24, 10), 100_000), (datetime(2026, 11, 24, 23, 30), 101_000),
                          (datetime(2026, 11, 25, 8), 102_000),  # 23:00 UTC on the 24th: the 25th in Tokyo
                          (datetime(2026, 11, 25, 20), 102_400)]:
            s.add(AccountSnapshot(ts=local.replace(tzinfo=TOKYO).astimezone(UTC), broker="paper", cash=Decimal(eq),
                                  equity=Decimal(eq), buying_power=Decimal(eq), gross_exposure=Decimal(0)))
    dep = wr.find(wr.dependencies(client), "performance-return.children")
    response = wr.call(client, dep, {"performance-range.start_date": "2026-11-25",
                                     "performance-range.end_date": "2026-11-25"}, trigger="performance-range.start_date")
    assert response.status_code == 200
    out = response.get_json()["response"]
    daily = out["performance-daily"]["figure"]["data"][0]
    assert list(daily["x"]) == ["2026-11-25"] and list(daily["y"]) == [1_400.0]  # 102,400 - 101,000
    store.dispose()
    assert out["performance-return"]["children"] == "+1.39%"  # 1,400 / 101,000 = 1.386%


def test_the_symbol_chart_reads_picked_days_in_the_markets_timezone(any_db_url: str) -> None:
    """The one-symbol chart's markers use the same market days as the rest of the page (Tokyo, one picked day)."""
    from engine.store.models import FillRow

    client, store = _tokyo_viewer(any_db_url)
    with store.write() as s:  # 08:00 Tokyo on the 25th is 23:00 UTC on the 24th: a fill of the 25th in Tokyo
        for n, (local, side) in enumerate([(datetime(2026, 11, 24, 10), "buy"), (datetime(2026, 11, 25, 8), "sell"),
                                           (datetime(2026, 11, 26, 10), "buy")]):
            s.add(FillRow(fill_key=f"k{n}", client_order_id=f"c{n}", symbol="AAA", side=side, qty=Decimal(10),
                          price=Decimal(100 + n), commission=Decimal(0), ts=local.replace(tzinfo=TOKYO).astimezone(UTC)))
    dep = wr.find(wr.dependencies(client), "performance-symbol-chart.figure")
    response = wr.call(client, dep, {"performance-symbol.value": "AAA", "performance-range.start_date": "2026-11-25",
                                     "performance-range.end_date": "2026-11-25"}, trigger="performance-range.start_date")
    store.dispose()
    assert response.status_code == 200
    traces = response.get_json()["response"]["performance-symbol-chart"]["figure"]["data"]
    markers = {t["name"]: t["y"] for t in traces if t.get("mode") == "markers"}
    assert markers == {"sell fills": [101.0]}  # the 25th in Tokyo: the sell only (by UTC days, none)
