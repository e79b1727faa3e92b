"""A store that ran the simulated market (index SIM) and then another source (index SPY) holds two instruments of
kind "index". engine.store.queries.index_symbol must name the one the engine classifies (the newest snapshot's
symbol, else the index with the newest bar), and every part of the Regime page must show that one index only.
SQLite and PostgreSQL; the rows are built by hand so every expected count is read off the data below."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask

from engine.auth import principal
from engine.clock import ManualClock
from engine.runtime import build_context
from engine.settings import load_settings
from engine.store import queries
from engine.store.db import Store
from engine.store.models import BarRow, Instrument, RegimeSnapshot
from tests.dash_tree import nodes

JAN = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
FEB = datetime(2026, 2, 5, 14, 30, tzinfo=UTC)
# default workbook regimes: 0 Strong_Bullish_High_Vol, 1 Strong_Bullish_Med_Vol, 3 Bullish_High_Vol
NAMES = {0: "Strong_Bullish_High_Vol", 1: "Strong_Bullish_Med_Vol", 3: "Bullish_High_Vol"}


def _bars(symbol: str, start: datetime, n: int, first_close: float) -> list[BarRow]:
    return [BarRow(symbol=symbol, ts=start + timedelta(minutes=i), open=first_close + i, high=first_close + i + 0.5,
                   low=first_close + i - 0.5, close=first_close + i, volume=1000.0) for i in range(n)]


def _snap(symbol: str, ts: datetime, regime_id: int) -> RegimeSnapshot:
    return RegimeSnapshot(ts=ts, symbol=symbol, regime_id=regime_id, regime_name=NAMES.get(regime_id, "X"),
                          confidence=0.5, raw_score=0.1, volatility_value=0.15, volatility_class="Medium",
                          trend_value=0.0, trend_class="Neutral", time_in_regime_s=60.0, is_transition=False,
                          transition_rule=None, param_version_id=None, modules={"modules": []})


def _two_sources(store: Store) -> None:
    """SIM (first, January: 5 bars) and SPY (February: 4 bars), plus a stock whose bar is newer than both."""
    with store.write() as s:
        s.add(Instrument(symbol="SIM", kind="index", has_options=False, source="simulated"))
        s.flush()
        s.add(Instrument(symbol="SPY", kind="index", has_options=False, source="alpaca"))
        s.add(Instrument(symbol="AAA", kind="stock", has_options=False, source="alpaca"))
        s.add_all(_bars("SIM", JAN, 5, 100.0) + _bars("SPY", FEB, 4, 500.0) + _bars("AAA", FEB + timedelta(days=9), 1, 9.0))


def _index(store: Store) -> str | None:
    with store.read() as s:
        return queries.index_symbol(s)


@pytest.fixture
def store(any_db_url: str) -> Iterator[Store]:
    from engine.store.migrate import open_store

    st = open_store(any_db_url, migrate=True)
    yield st
    st.dispose()


def test_index_symbol_follows_the_engine_not_the_first_row(store: Store) -> None:
    assert _index(store) is None  # no instrument yet
    _two_sources(store)
    assert _index(store) == "SPY"  # no snapshot: the index with the newest bar (SPY's 14:33 on 5 Feb)
    with store.write() as s:
        s.add_all([_snap("SIM", JAN + timedelta(minutes=m), 3) for m in (1, 2, 3)])
    assert _index(store) == "SIM"  # the engine classified SIM last, even though SPY's bars are newer
    with store.write() as s:
        s.add_all([_snap("SPY", FEB + timedelta(minutes=1), 0)])
    assert _index(store) == "SPY"
    with store.write() as s:  # a snapshot of a symbol that is no index instrument: back to the newest bar
        s.add(_snap("XYZ", FEB + timedelta(minutes=2), 0))
    assert _index(store) == "SPY"


def test_equal_newest_bars_pick_the_first_symbol(store: Store) -> None:
    with store.write() as s:
        s.add(Instrument(symbol="ZZZ", kind="index", has_options=False, source="csv"))
        s.flush()
        s.add(Instrument(symbol="BBB", kind="index", has_options=False, source="csv"))
        s.add_all(_bars("ZZZ", JAN, 3, 10.0) + _bars("BBB", JAN + timedelta(minutes=1), 2, 20.0))
    assert _index(store) == "BBB"  # both end at 14:32


@pytest.fixture
def app(any_db_url: str) -> Iterator[tuple[Flask, Store]]:
    from app import create_app
    from webapp.cache import cache

    settings = load_settings(database_url=any_db_url, engine_mode="none")
    ctx = build_context(settings, with_source=False, migrate=True, clock=ManualClock())
    application = create_app(settings, context=ctx)
    with application.server.app_context():
        cache.clear()
    yield application.server, ctx.store
    ctx.store.dispose()


def test_regime_page_shows_one_index_everywhere(app: tuple[Flask, Store]) -> None:
    from pages.regime import refresh_current, refresh_price, refresh_stats

    server, store = app
    _two_sources(store)
    with store.write() as s:  # SIM classified first (3, 3, 3), then SPY (0, 1): the engine now classifies SPY
        s.add_all([_snap("SIM", JAN + timedelta(minutes=m), 3) for m in (1, 2, 3)])
        s.flush()
        s.add_all([_snap("SPY", FEB + timedelta(minutes=1), 0), _snap("SPY", FEB + timedelta(minutes=2), 1)])
    with server.test_request_context("/"), principal.acting_as(principal.Principal("v", "viewer", "x")):
        card: Any = refresh_current(1, None)[0]
        price, text, timeline = refresh_price(1, None)
        heatmap = refresh_stats(1)[0]
    asof = [n.children for n in nodes(card) if getattr(n, "id", None) == "regime-current-asof"]
    assert asof == ["as of 2026-02-05 14:32:00"]
    assert price.layout.title.text == "SPY with the detected regime"
    # SPY's 4 bars, the newest 14:33; SPY's 2 classifications (SIM's 3 left out)
    assert text == "4 bars shown, newest 2026-02-05 14:33, 2 classified"
    assert timeline.layout.title.text == "Regime timeline (2 bars)"
    # SPY alone changed once (0 -> 1); mixed with SIM it would count 3 -> 0 as well
    assert heatmap.layout.title.text == "Observed transitions (1)"
