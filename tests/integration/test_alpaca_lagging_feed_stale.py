"""A feed that keeps arriving but runs behind is stale: the gateway's stale-data check ages Alpaca's data by the
bars' own (wall-clock) times too, not only by when the poll returned them. Real HTTP to the fake Alpaca, the real
market job (market_tick) and gateway, on SQLite and PostgreSQL.

Hand timeline: now is 2026-12-07 15:00:05 UTC (10:00:05 New York, session open); the limit is 120 s.
- Lagging feed: 1-minute bars up to the one stamped 14:34 (it ends 14:35). The poll returns them at 15:00:05, yet
  the newest price is 15:00:05 - 14:35:00 = 25 min 5 s = 1505 s old: refused as stale_data.
- The same feed caught up: bars through 14:59 (it ends 15:00:00, the last finished minute): 5 s old: accepted.
- A CSV replay of 2024 bars (replayed times, not wall-clock ones): fresh by its receipt time, accepted as before.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from engine.clock import ManualClock
from engine.context import EngineContext
from engine.jobs import market_tick
from engine.market.alpaca_source import AlpacaMarketSource
from engine.market.csv_source import CsvReplaySource
from engine.settings import load_settings
from engine.store.keyvalue import MARKET_DATA_KEY
from engine.store.migrate import open_store
from engine.store.models import Instrument, KeyValue
from engine.trading import gateway
from engine.trading import state as ts
from engine.trading.brokers.alpaca import AlpacaBroker
from engine.trading.brokers.base import OrderSide
from engine.trading.intent import OrderIntent
from engine.trading.sync import sync_from_broker
from tests.fake_alpaca import FakeAlpacaServer
from tests.trading_control_fixtures import LOOSE

MINUTE = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
NOW = MINUTE + timedelta(seconds=5)
LIMITS = replace(LOOSE, stale_data_seconds=120)


@contextmanager
def engine(tmp_path: Path, url: str, srv: FakeAlpacaServer, make_source: Callable[[ManualClock], Any],
           market_source: str) -> Iterator[EngineContext]:
    """A store with AAA and SPY, the fake Alpaca as broker (synced once), `make_source(clock)` as the market source."""
    store = open_store(url, migrate=True)
    clock = ManualClock(NOW)
    source = make_source(clock)
    with store.write() as s:
        ts.ensure_state(s, NOW)
        for sym in ("AAA", "SPY"):
            s.add(Instrument(symbol=sym, kind="stock", has_options=False, source=market_source))
    settings = load_settings(database_url=url, market_source=market_source, csv_dir=tmp_path,
                             alpaca_key_id=srv.key_id, alpaca_secret_key=srv.secret_key)
    broker = AlpacaBroker(srv.key_id, srv.secret_key, url_override=srv.url, timeout_s=1.0, retry_wait_s=0.01,
                          clock=clock)
    ctx = EngineContext(settings=settings, store=store, clock=clock, broker=broker, source=source)
    try:
        sync_from_broker(ctx, LIMITS)
        yield ctx
    finally:
        store.dispose()


def _alpaca_source(srv: FakeAlpacaServer) -> Callable[[ManualClock], AlpacaMarketSource]:
    return lambda clock: AlpacaMarketSource(srv.key_id, srv.secret_key, ["AAA"], "SPY", srv.url, timeout_s=1.0,
                                            clock=clock, history=timedelta(hours=2))


def _bars(srv: FakeAlpacaServer, last: datetime) -> None:
    for sym in ("SPY", "AAA"):
        for i in range(30):
            srv.book.add_bar(sym, last - timedelta(minutes=29 - i), 100, 101, 99, 100, 1000)


def _stamp(session: Session) -> dict[str, Any]:
    row = session.get(KeyValue, MARKET_DATA_KEY)
    assert row is not None and isinstance(row.value, dict)
    return row.value


def _buy(ctx: EngineContext, key: str) -> Any:
    return gateway.submit(ctx, OrderIntent("AAA", OrderSide.BUY, Decimal(10), idempotency_key=key), "trader",
                          "manual", limits=LIMITS)


def test_a_feed_25_minutes_behind_is_refused_as_stale(tmp_path: Path, any_db_url: str) -> None:
    with FakeAlpacaServer() as srv:
        srv.book.market_open = True
        _bars(srv, MINUTE - timedelta(minutes=26))  # newest bar 14:34, ends 14:35
        with engine(tmp_path, any_db_url, srv, _alpaca_source(srv), "alpaca") as ctx:
            update = market_tick(ctx)
            assert max(b.ts for b in update.bars) == datetime(2026, 12, 7, 14, 34, tzinfo=UTC)
            with ctx.store.read() as s:  # the poll did arrive now: the receipt time alone says fresh
                assert _stamp(s)["ts"] == NOW.isoformat()
            r = _buy(ctx, "lag-1")
            assert not r.accepted and r.check == "stale_data"
            assert "market data for AAA is 1505s old (limit 120s)" in (r.reason or "")
            assert srv.book.orders == {}, "nothing reached Alpaca"


def test_the_same_feed_caught_up_is_fresh(tmp_path: Path, any_db_url: str) -> None:
    with FakeAlpacaServer() as srv:
        srv.book.market_open = True
        _bars(srv, MINUTE - timedelta(minutes=1))  # newest finished bar 14:59, ends 15:00:00: 5 s old
        with engine(tmp_path, any_db_url, srv, _alpaca_source(srv), "alpaca") as ctx:
            market_tick(ctx)
            r = _buy(ctx, "fresh-1")
            assert r.accepted, r.reason
            assert len(srv.book.orders) == 1


def test_replayed_csv_bars_are_judged_by_their_receipt(tmp_path: Path, any_db_url: str) -> None:
    rows = "".join(f"2024-03-01T14:{30 + i}:00Z,100,101,99,100,1000\n" for i in range(3))
    for sym in ("AAA", "SPY"):
        (tmp_path / f"{sym}.csv").write_text("timestamp,open,high,low,close,volume\n" + rows, encoding="utf-8")
    source = CsvReplaySource({s: tmp_path / f"{s}.csv" for s in ("AAA", "SPY")}, bars_per_poll=3, index_symbol="SPY")
    with FakeAlpacaServer() as srv:
        srv.book.market_open = True
        with engine(tmp_path, any_db_url, srv, lambda _clock: source, "csv") as ctx:
            market_tick(ctx)
            with ctx.store.read() as s:
                assert "bar_s" not in _stamp(s)
            r = _buy(ctx, "csv-1")
            assert r.accepted, r.reason
