"""The Risk page's book values a position at its broker market price once the last stored close is older than the
stale-data limit, and the report's note names it (audit4 defect 6; SQLite and PostgreSQL).

Before, a short 100 whose only close was 30 days old at 50 was valued at -5,000 while the broker marked it at 80
(-8,000): exposure, VaR and stress all read -5,000, with nothing said. Every figure below is worked out by hand:
the limit is TradingRisk stale_data_seconds (300 s by default), measured from the close's bar end (its open plus
the recorded bar length, 0 when none is recorded) to the broker's report on the position row (updated_at).
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from engine.params.paramset import default_params
from engine.params.versions import apply_version
from engine.portfolio_risk import report as risk_report
from engine.portfolio_risk.book import history, read_book
from engine.portfolio_risk.report import Book
from engine.portfolio_risk.stress import UserScenario
from engine.store.db import Store
from engine.store.keyvalue import MARKET_DATA_KEY
from engine.store.migrate import open_store
from engine.store.models import BarRow, Instrument, KeyValue, PositionRow
from engine.tuning.edit import edited

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


@pytest.fixture()
def store(any_db_url: str) -> Iterator[Store]:
    s = open_store(any_db_url, migrate=True)
    yield s
    s.dispose()


def hold(store: Store, symbol: str, qty: int, market: str | None, close: float | None, close_age_s: float,
         reported: datetime = NOW) -> None:
    """A position the broker reported at `reported` with its `market` price, and its only close `close_age_s`
    before that report."""
    with store.write() as s:
        s.add(Instrument(symbol=symbol, kind="stock", has_options=False, source="alpaca"))
        if close is not None:
            s.add(BarRow(symbol=symbol, ts=reported - timedelta(seconds=close_age_s), open=close, high=close,
                         low=close, close=close, volume=1))
        s.add(PositionRow(symbol=symbol, qty=D(qty), avg_entry_price=D(60),
                          market_price=D(market) if market is not None else None, unrealized_pnl=None,
                          updated_at=reported))


def book_of(store: Store) -> Book:
    with store.read() as s:
        return read_book(s, equity=100_000.0)


def test_a_30_day_old_close_gives_way_to_the_broker_price_in_every_figure(store: Store) -> None:
    hold(store, "ALFA", -100, "80", 50.0, 30 * 86400)
    book = book_of(store)
    assert book.symbols == ("ALFA",)
    assert [float(p) for p in book.price] == [80.0]  # not the 30-day-old 50
    assert [float(v) for v in book.values] == [-8000.0]  # -100 x 80 (it was -100 x 50 = -5,000)
    with store.read() as s:
        hist = history(s, book.symbols, 60)
    shock = UserScenario("ALFA -10%", {"ALFA": -0.10})
    rep = risk_report.compute(book, hist, {}, user_scenarios=[shock])
    assert rep.sides == {"long": 0.0, "short": 8000.0, "net": -8000.0, "gross": 8000.0}
    user = next(sc for sc in rep.scenarios if sc.name == "ALFA -10%")
    assert user.pnl == pytest.approx(800.0)  # -8,000 x -10%: a short gains 800 (it was 500 at -5,000)
    assert ("stale prices (last close older than the stale-data limit of 300 s): ALFA (last close 30 d old, "
            "valued at the broker's market price 80.00)") in rep.note
    assert "stale prices" in rep.to_json()["note"]  # what the Risk page reads


def test_a_fresh_close_is_kept_and_nothing_is_said(store: Store) -> None:
    hold(store, "ALFA", -100, "80", 79.0, 300)  # exactly at the limit: still fresh
    book = book_of(store)
    assert [float(v) for v in book.values] == [-7900.0]  # -100 x the close 79
    assert book.stale_note == ""


def test_the_recorded_bar_length_counts_the_close_from_the_bar_end(store: Store) -> None:
    hold(store, "ALFA", 10, "80", 79.0, 350)  # bar opened 350 s before the report
    assert [float(v) for v in book_of(store).values] == [800.0]  # no bar length: 350 s > 300 s, stale: 10 x 80
    with store.write() as s:  # a 60 s bar (Alpaca): it closed 290 s before the report, fresh
        s.add(KeyValue(key=MARKET_DATA_KEY, value={"ts": NOW.isoformat(), "cadence_s": 60, "bar_s": 60.0},
                       updated_at=NOW))
    book = book_of(store)
    assert [float(v) for v in book.values] == [790.0] and book.stale_note == ""  # 10 x 79


def test_the_limit_is_the_active_versions_stale_data_seconds(store: Store) -> None:
    hold(store, "ALFA", 10, "80", 79.0, 1800)  # 30 min old: stale under the default 300 s
    assert [float(v) for v in book_of(store).values] == [800.0]
    apply_version(store, edited(default_params(), {("TradingRisk", "main", "stale_data_seconds"): 3600}), "test", "cli")
    book = book_of(store)
    assert [float(v) for v in book.values] == [790.0] and book.stale_note == ""  # 30 min < 1 h: the close


def test_a_stale_close_without_a_broker_price_is_kept_and_named(store: Store) -> None:
    hold(store, "ALFA", 10, None, 50.0, 2 * 3600)
    hold(store, "BETA", 5, "21", 20.0, 60)  # fresh: 5 x 20
    book = book_of(store)
    assert book.symbols == ("ALFA", "BETA") and [float(v) for v in book.values] == [500.0, 100.0]
    assert book.stale_note == ("stale prices (last close older than the stale-data limit of 300 s): ALFA (last "
                               "close 2 h old, still valued at that close 50.00 (no broker price))")
    after = book.with_order("BETA", 1, 20.0)  # the gateway's what-if keeps the note
    assert after.stale_note == book.stale_note
