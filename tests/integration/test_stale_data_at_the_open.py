"""The stale-data trigger counts a feed's silence from the regular session's open, not across the closed market
(Alpaca source, XNYS calendar; fake Alpaca over real HTTP; SQLite and PostgreSQL).

Hand timeline: the last bars arrived Friday 2026-12-04 at 20:00 ET (the end of after-hours). Monday 2026-12-07 opens
at 09:30 ET; the first minute bar cannot arrive before 09:31. The limit is the default stale_data_seconds, 300 s.
At 09:30:30 the feed has been due for 30 s: not stale (it was 2.5 days old by the wall clock, and the automatic
REDUCING that fired each morning held until an operator resumed). At 09:36, 360 s after the open with no bar: stale.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from engine.market.alpaca_source import AlpacaMarketSource
from engine.store.keyvalue import MARKET_DATA_KEY
from engine.store.models import KeyValue
from engine.trading import auto_halts
from engine.trading import state as trading_state
from engine.trading.brokers.alpaca import AlpacaBroker
from engine.trading.state import TradingState
from tests.fake_alpaca import FakeAlpacaServer
from tests.trading_control_fixtures import LOOSE, broker_context

NY = ZoneInfo("America/New_York")


def et(day: date, hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm, ss), tzinfo=NY).astimezone(UTC)


FRIDAY, MONDAY = date(2026, 12, 4), date(2026, 12, 7)


def test_a_feed_quiet_over_the_weekend_is_stale_only_five_minutes_after_the_open(any_db_url, tmp_path) -> None:
    with FakeAlpacaServer() as srv:
        srv.book.market_open = True

        def make(clock):  # type: ignore[no-untyped-def]
            return AlpacaBroker(srv.key_id, srv.secret_key, paper=True, url_override=srv.url, timeout_s=1.0,
                                retry_wait_s=0.01, retry_max_wait_s=0.05, clock=clock)

        with broker_context(tmp_path, any_db_url, make, LOOSE, start=et(MONDAY, 9, 30, 30)) as ctx:
            ctx.source = AlpacaMarketSource(srv.key_id, srv.secret_key, ["AAA"], "SPY", url_override=srv.url,
                                            clock=ctx.clock)
            with ctx.store.write() as s:
                s.merge(KeyValue(key=MARKET_DATA_KEY, value={"ts": et(FRIDAY, 20, 0).isoformat(), "cadence_s": 60},
                                 updated_at=et(FRIDAY, 20, 0)))
            assert auto_halts.evaluate(ctx) == []
            ctx.clock.advance(et(MONDAY, 9, 36) - ctx.clock.now())  # type: ignore[attr-defined]
            changes = auto_halts.evaluate(ctx)
            assert [c.to_state for c in changes] == [TradingState.REDUCING]
            assert changes[0].reason.startswith("stale market data: the newest price is 360s old")
            with ctx.store.read() as s:
                assert trading_state.current(s).state is TradingState.REDUCING
