"""Option-chain days to expiry count from New York's date, not UTC's (real HTTP to the fake Alpaca).

Hand check: 2026-03-05 00:30 UTC is Wednesday 2026-03-04 19:30 EST (after-hours). Counted from New York's
Wednesday, the 03-05 expiry is 1 day away and 03-06 is 2 (the UTC date, already Thursday, read 0 and 1, and the
regime classifier's expiry-day flag, min(days) < 1, came up on a day without an expiry). The request's expiry window
runs from 2026-03-04 to 2026-03-04 + 45 days = 2026-04-18.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from engine.clock import ManualClock
from engine.market.alpaca_source import AlpacaMarketSource
from tests.fake_alpaca import FakeAlpacaServer

NOW = datetime(2026, 3, 5, 0, 30, tzinfo=UTC)  # Wed 2026-03-04 19:30 EST
SNAP = {"impliedVolatility": 0.2, "greeks": {"delta": 0.5, "gamma": 0.01, "vega": 0.1, "theta": -0.05, "rho": 0.01},
        "latestQuote": {"t": "2026-03-04T20:59:00Z", "ax": "C", "ap": 2.1, "as": 5, "bx": "C", "bp": 2.0, "bs": 7,
                        "c": "A"}}


def _source(srv: FakeAlpacaServer) -> AlpacaMarketSource:
    return AlpacaMarketSource(srv.key_id, srv.secret_key, [], "SPY", srv.url, timeout_s=1.0, clock=ManualClock(NOW),
                              option_underlyings=["SPY"])


def test_expiry_days_after_the_new_york_evening_count_from_new_yorks_date() -> None:
    with FakeAlpacaServer() as srv:
        srv.book.add_bar("SPY", NOW - timedelta(minutes=3), 500, 501, 499, 500, 1000)
        srv.book.snapshots["SPY"] = {"SPY260305C00500000": SNAP, "SPY260306C00500000": SNAP,
                                     "SPY260418C00500000": SNAP}
        [chain] = _source(srv).poll().chains
        assert chain.expiry_days.tolist() == [1.0, 2.0, 45.0]
        assert float(min(chain.expiry_days)) >= 1.0, "no expiry today in New York"


def test_the_chain_request_window_starts_at_new_yorks_date() -> None:
    with FakeAlpacaServer() as srv:
        request = _source(srv).chain_request("SPY", NOW, 500.0)
        assert (request.expiration_date_gte, request.expiration_date_lte) == (date(2026, 3, 4), date(2026, 4, 18))
