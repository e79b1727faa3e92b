"""The ATR of the ATR trailing stop and of the manual ticket's size reads regular-session bars when the market
source has an exchange calendar (Alpaca: XNYS), as the regime does (audit alpaca_market_time finding 8, probe p8).

Stored minute bars of AAA (SQLite and PostgreSQL), XNYS in EST (UTC-5, regular session 14:30-21:00 UTC):
- Thursday 2026-12-03: the regular session (390 bars, high 99.2, low 98.8, close 99) and after-hours (240 bars);
- Friday 2026-12-04: pre-market (330), the regular session (390 bars, high 100.2, low 99.8, close 100), after-hours;
- Monday 2026-12-07: pre-market 09:00-14:29 UTC (330 bars).
Every extended-hours bar has high 100.015, low 99.985, close 100. By hand: a regular Friday bar's true range is
max(100.2 - 99.8, |100.2 - 100|, |99.8 - 100|) = 0.40 and an extended one's 0.03, so Wilder's ATR of the newest
regular bars is 0.40, and of the newest stored bars (all Monday pre-market) 0.03.
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from engine.clock import ManualClock
from engine.context import EngineContext
from engine.execution.protect import attach_stop, live_stops
from engine.execution.session_atr import recent_hlc
from engine.execution.stops import StopSpec
from engine.market.alpaca_source import AlpacaMarketSource
from engine.market.exchange import alpaca_calendar
from engine.settings import load_settings
from engine.store.db import Store
from engine.store.migrate import open_store
from engine.store.models import AccountSnapshot, BarRow, PositionRow
from engine.trading.brokers.base import OrderSide
from engine.trading.brokers.paper import PaperBroker
from engine.trading.ticket_size import ticket_size

D = Decimal
SYM = "AAA"
NOW = datetime(2026, 12, 7, 14, 29, 30, tzinfo=UTC)  # Monday 09:29:30 New York, just before the open


def _minutes(start: datetime, n: int, high: float, low: float, close: float) -> list[BarRow]:
    return [BarRow(symbol=SYM, ts=start + timedelta(minutes=i), open=close, high=high, low=low, close=close,
                   volume=1000) for i in range(n)]


@pytest.fixture
def store(any_db_url: str) -> Iterator[Store]:
    store = open_store(any_db_url, migrate=True)
    ext = (100.015, 99.985, 100.0)
    rows = (_minutes(datetime(2026, 12, 3, 14, 30, tzinfo=UTC), 390, 99.2, 98.8, 99.0)
            + _minutes(datetime(2026, 12, 3, 21, 0, tzinfo=UTC), 240, *ext)
            + _minutes(datetime(2026, 12, 4, 9, 0, tzinfo=UTC), 330, *ext)
            + _minutes(datetime(2026, 12, 4, 14, 30, tzinfo=UTC), 390, 100.2, 99.8, 100.0)
            + _minutes(datetime(2026, 12, 4, 21, 0, tzinfo=UTC), 240, *ext)
            + _minutes(datetime(2026, 12, 7, 9, 0, tzinfo=UTC), 330, *ext))
    with store.write() as s:
        s.add_all(rows)
        s.add(PositionRow(symbol=SYM, qty=D(100), avg_entry_price=D(100), market_price=D(100), unrealized_pnl=D(0),
                          updated_at=NOW))
        s.add(AccountSnapshot(ts=NOW, broker="paper", cash=D(100_000), equity=D(100_000), buying_power=D(100_000),
                              gross_exposure=D(10_000)))
    yield store
    store.dispose()


def engine(tmp_path, url: str, store: Store, source: str) -> EngineContext:
    """`source`: "alpaca" (the engine's Alpaca source), "web" (no source, Alpaca configured: the Trading page's
    process) or "csv" (a source without an exchange)."""
    clock = ManualClock(NOW)
    market = AlpacaMarketSource("key", "secret", [SYM], "SPY", clock=clock) if source == "alpaca" else None
    settings = load_settings(database_url=url, market_source="csv" if source == "csv" else "alpaca", csv_dir=tmp_path,
                             alpaca_key_id="key", alpaca_secret_key="secret")
    broker = PaperBroker(store, clock, starting_cash=D(100_000))
    return EngineContext(settings=settings, store=store, clock=clock, broker=broker, source=market)


@pytest.mark.parametrize(("source", "atr", "level"),
                         [("alpaca", "0.40", "99.20"), ("web", "0.40", "99.20"), ("csv", "0.03", "99.94")],
                         ids=["xnys_regular_bars", "web_process_alpaca_configured", "no_exchange_every_bar"])
def test_the_atr_trail_is_measured_on_the_sources_session_bars(tmp_path, any_db_url, store, source, atr,
                                                               level) -> None:
    row = attach_stop(engine(tmp_path, any_db_url, store, source), SYM, StopSpec(trail_atr_mult=D(2)), "alice")
    assert row.atr is not None and abs(row.atr - D(atr)) < D("1e-9")
    with store.read() as s:
        [view] = live_stops(s)
    # the high-water mark is the entry, 100: the trail is 100 - 2 x ATR
    assert view["stop_kind"] == "trailing" and abs(D(str(view["stop"])) - D(level)) < D("1e-9")


def test_the_ticket_size_reads_regular_session_bars_with_the_exchange_calendar(store) -> None:
    with store.read() as s:
        regular = ticket_size(s, None, SYM, OrderSide.BUY, calendar=alpaca_calendar())
        every_bar = ticket_size(s, None, SYM, OrderSide.BUY)
    assert any("(0.40 ATR x" in n for n in regular.notes), regular.notes
    assert any("(0.03 ATR x" in n for n in every_bar.notes), every_bar.notes
    # size = risk / (ATR x multiple): the pre-market ATR made the raw size 0.40 / 0.03 = 13.3x too large
    assert regular.raw_qty > 0 and abs(every_bar.raw_qty / regular.raw_qty - D("0.40") / D("0.03")) < D("0.01")


def test_regular_bars_are_read_page_by_page_back_to_an_earlier_session(store) -> None:
    with store.read() as s:
        high, low, close = recent_hlc(s, SYM, 500, alpaca_calendar())
    # the newest 1,000 rows hold Friday's 390 regular bars; the next page reaches Thursday's session (close 99):
    # the newest 500 regular bars are Thursday's last 110 then Friday's 390, oldest first
    assert list(close) == [99.0] * 110 + [100.0] * 390
    assert all(abs(h - lo - 0.4) < 1e-9 for h, lo in zip(high, low, strict=True))
