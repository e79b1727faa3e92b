"""AlpacaMarketSource over real HTTP against the local fake Alpaca server."""
from __future__ import annotations

import math
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from engine.clock import ManualClock
from engine.market.alpaca_source import AlpacaMarketSource, parse_occ
from engine.market.types import MarketDataError
from tests.fake_alpaca import FakeAlpacaServer

KEY, SECRET = "test-key", "test-secret-never-shown"
T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


@pytest.fixture
def server() -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET, page_size=4) as srv:  # small pages: pagination
        yield srv


def add_minutes(srv: FakeAlpacaServer, symbol: str, start: datetime, n: int, price: float = 100.0) -> None:
    for i in range(n):
        p = price + i
        srv.book.add_bar(symbol, start + timedelta(minutes=i), p, p + 1, p - 1, p + 0.5, 1000 + i)


def make_source(srv: FakeAlpacaServer, clock: ManualClock, **kw: object) -> AlpacaMarketSource:
    opts: dict[str, object] = {"timeout_s": 1.0, "sdk_retry_wait_s": 0.05, "clock": clock,
                               "history": timedelta(hours=1)}
    opts.update(kw)
    return AlpacaMarketSource(KEY, SECRET, ["AAPL", "MSFT"], "SPY", srv.url, **opts)  # type: ignore[arg-type]


def test_poll_returns_only_new_bars_across_pages(server: FakeAlpacaServer) -> None:
    clock = ManualClock(T0 + timedelta(minutes=5))
    for s in ("AAPL", "MSFT", "SPY"):
        add_minutes(server, s, T0, 5)
    src = make_source(server, clock)
    first = src.poll()
    assert len(first.bars) == 15, "all three symbols, five bars each, over four-bar pages"
    assert server.hits_for("GET", "/v2/stocks/bars") == 4
    aapl = [b for b in first.bars if b.symbol == "AAPL"]
    assert [b.ts for b in aapl] == [T0 + timedelta(minutes=i) for i in range(5)]
    assert (aapl[0].open, aapl[0].high, aapl[0].low, aapl[0].close, aapl[0].volume) == (100, 101, 99, 100.5, 1000)
    assert first.bars == sorted(first.bars, key=lambda b: (b.ts, b.symbol))
    assert src.poll().bars == []
    add_minutes(server, "AAPL", T0 + timedelta(minutes=5), 2, price=200)
    clock.advance(timedelta(minutes=2))
    again = src.poll()
    assert [(b.symbol, b.ts) for b in again.bars] == [
        ("AAPL", T0 + timedelta(minutes=5)), ("AAPL", T0 + timedelta(minutes=6))]


def test_a_forming_minute_waits_until_it_closes(server: FakeAlpacaServer) -> None:
    clock = ManualClock(T0 + timedelta(minutes=2, seconds=30))
    add_minutes(server, "AAPL", T0, 3)  # the T0+2 bar is still forming at T0+2:30
    src = make_source(server, clock)
    assert [b.ts for b in src.poll().bars] == [T0, T0 + timedelta(minutes=1)]
    clock.advance(30)
    assert [b.ts for b in src.poll().bars] == [T0 + timedelta(minutes=2)]


def test_stale_symbols_flagged(server: FakeAlpacaServer) -> None:
    clock = ManualClock(T0 + timedelta(minutes=3))
    add_minutes(server, "AAPL", T0, 3)
    add_minutes(server, "SPY", T0, 3)
    src = make_source(server, clock, stale_after=timedelta(minutes=5))
    assert src.poll().stale_symbols == ["MSFT"], "never seen is stale"
    clock.advance(timedelta(minutes=10))
    assert src.poll().stale_symbols == ["AAPL", "MSFT", "SPY"]
    closed = make_source(server, clock, market_open=lambda: False)
    assert closed.poll().stale_symbols == [], "no staleness while the market is closed"


def test_symbol_without_trades_does_not_drag_requests_back(server: FakeAlpacaServer) -> None:
    clock = ManualClock(T0 + timedelta(minutes=5))
    add_minutes(server, "AAPL", T0, 5)
    add_minutes(server, "SPY", T0, 5)  # MSFT never trades
    src = make_source(server, clock, history=timedelta(days=2))
    src.poll()
    first = server.params_of("GET", "/v2/stocks/bars")[0]["start"]
    assert datetime.fromisoformat(first) == T0 + timedelta(minutes=5) - timedelta(days=2)
    clock.advance(60)
    src.poll()
    second = server.params_of("GET", "/v2/stocks/bars")[-1]["start"]
    assert datetime.fromisoformat(second) == T0 + timedelta(minutes=3), "previous request time - late_bars"


def test_resume_after_skips_stored_bars(server: FakeAlpacaServer) -> None:
    clock = ManualClock(T0 + timedelta(minutes=10))
    for s in ("AAPL", "MSFT", "SPY"):
        add_minutes(server, s, T0, 5)
    src = make_source(server, clock)
    src.resume_after(T0 + timedelta(minutes=2))
    got = src.poll().bars
    assert {b.ts for b in got} == {T0 + timedelta(minutes=3), T0 + timedelta(minutes=4)}
    assert len(got) == 6


def test_failures_raise_market_data_error_and_keep_position(server: FakeAlpacaServer) -> None:
    clock = ManualClock(T0 + timedelta(minutes=10))
    add_minutes(server, "AAPL", T0, 3)
    src = make_source(server, clock)
    server.inject("GET", "/v2/stocks/bars", "500")
    with pytest.raises(MarketDataError, match="1-minute bars for AAPL, MSFT, SPY") as info:
        src.poll()
    assert SECRET not in str(info.value)
    assert len(src.poll().bars) == 3, "nothing was lost by the failed poll"


def test_hung_data_endpoint_times_out(server: FakeAlpacaServer) -> None:
    src = make_source(server, ManualClock(T0), timeout_s=0.3)
    server.inject("GET", "/v2/stocks/bars", "delay", delay_s=2.0)
    started = time.monotonic()
    with pytest.raises(MarketDataError, match="timeout"):
        src.poll()
    assert time.monotonic() - started < 0.8


def snapshot(bid: float, ask: float, iv: float, delta: float) -> dict[str, object]:
    ts = T0.isoformat().replace("+00:00", "Z")
    return {
        "greeks": {"delta": delta, "gamma": 0.02, "rho": 0.01, "theta": -0.05, "vega": 0.12},
        "impliedVolatility": iv,
        "latestQuote": {"t": ts, "ax": "C", "ap": ask, "as": 5, "bx": "C", "bp": bid, "bs": 7, "c": "A"},
        "latestTrade": {"t": ts, "x": "C", "p": (bid + ask) / 2 + 0.01, "s": 1, "c": "I"},
    }


def test_option_chain_from_snapshots(server: FakeAlpacaServer) -> None:
    clock = ManualClock(T0 + timedelta(minutes=2))
    add_minutes(server, "SPY", T0, 2, price=500)
    server.book.snapshots["SPY"] = {
        "SPY260320C00500000": snapshot(10.0, 10.4, 0.18, 0.52),
        "SPY260320P00495000": snapshot(7.0, 7.2, 0.2, -0.45),
        "SPY260417C00510000": snapshot(9.0, 9.6, 0.17, 0.41),
        "SPY260417P00510000": {"impliedVolatility": None},
        "SPY260116C00500000": snapshot(1, 2, 0.2, 0.5),  # expired: dropped
        "SPY260320C00505000": snapshot(8, 8.2, 0.19, 0.48),
    }
    src = make_source(server, clock, option_underlyings=["SPY"], chain_max_days=60)
    update = src.poll()
    [chain] = update.chains
    assert chain.underlying == "SPY" and chain.spot == 501.5 and len(chain) == 5
    assert server.hits_for("GET", "/v1beta1/options/snapshots/SPY") == 2, "six contracts over four-item pages"
    assert list(chain.expiry_days) == [18, 18, 18, 46, 46]
    assert list(chain.strike) == [495.0, 500.0, 505.0, 510.0, 510.0]
    assert list(chain.kind) == ["P", "C", "C", "C", "P"]
    assert chain.price[1] == pytest.approx(10.2) and chain.iv[1] == pytest.approx(0.18)
    assert chain.vega[1] == pytest.approx(12.0) and chain.theta[1] == pytest.approx(-0.05 * 365)
    assert math.isnan(chain.iv[4]) and math.isnan(chain.delta[4]) and math.isnan(chain.price[4])
    assert np.isnan(chain.open_interest).all(), "snapshots carry no open interest"


def test_option_chain_failure_skips_chain_keeps_bars(server: FakeAlpacaServer) -> None:
    clock = ManualClock(T0 + timedelta(minutes=2))
    add_minutes(server, "SPY", T0, 2)
    src = make_source(server, clock, option_underlyings=["SPY"])
    server.inject("GET", "/v1beta1/options/snapshots/SPY", "500")
    update = src.poll()
    assert len(update.bars) == 2 and update.chains == []
    assert "option chain of SPY" in src.chain_errors["SPY"]


def test_parse_occ() -> None:
    assert parse_occ("AAPL240119C00100000") == ("AAPL", date(2024, 1, 19), "C", 100.0)
    assert parse_occ("SPXW251231P05123500") == ("SPXW", date(2025, 12, 31), "P", 5123.5)
    assert parse_occ("AAPL1240119C00100000")[0] == "AAPL1"
    with pytest.raises(ValueError):
        parse_occ("AAPL")


def test_build_from_settings_with_defaults(server: FakeAlpacaServer) -> None:
    from types import SimpleNamespace

    from pydantic import SecretStr

    from engine.market.alpaca_source import DEFAULT_SYMBOLS, build_alpaca_source

    settings = SimpleNamespace(alpaca_key_id=SecretStr(KEY), alpaca_secret_key=SecretStr(SECRET),
                               alpaca_base_url=server.url)
    src = build_alpaca_source(settings, clock=ManualClock(T0 + timedelta(minutes=2)))
    assert src.symbols() == list(DEFAULT_SYMBOLS) and src.index_symbol() == "SPY"
    add_minutes(server, "SPY", T0, 2)
    assert len(src.poll().bars) == 2
    custom = build_alpaca_source(SimpleNamespace(**vars(settings), alpaca_symbols="aapl, msft",
                                                 alpaca_index_symbol="qqq", alpaca_option_underlyings=""))
    assert custom.symbols() == ["AAPL", "MSFT"] and custom.index_symbol() == "QQQ"
    with pytest.raises(MarketDataError, match="APCA_API_KEY_ID"):
        build_alpaca_source(SimpleNamespace())
