"""The trading side's cheaper paths answer as the paths they replace: the paper broker's one-read
books_since, the upserts built once, update_marks without the snapshot read, the trading state read once."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from engine.clock import ManualClock
from engine.market.types import Bar
from engine.store.db import Store
from engine.store.models import BarRow, FillRow, KeyValue, PositionRow
from engine.store.writes import upsert_rows
from engine.trading import state as trading_state
from engine.trading.brokers.base import OrderRequest, OrderSide, OrderType
from engine.trading.brokers.paper import PaperBroker
from engine.trading.equity import PEAK_KEY, START_OF_DAY_KEY, read_marks, update_marks
from engine.trading.upserts import insert_ignoring, upsert, upsert_statement

T0 = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
D = Decimal


def _bars(store: Store, minute: int, prices: dict[str, float]) -> list[Bar]:
    bars = [Bar(sym, T0 + timedelta(minutes=minute), px, px + 1, px - 1, px, 1_000_000) for sym, px in prices.items()]
    with store.write() as s:
        for b in bars:
            s.add(BarRow(symbol=b.symbol, ts=b.ts, open=b.open, high=b.high, low=b.low, close=b.close, volume=b.volume))
    return bars


def test_books_since_equals_the_four_calls(store: Store) -> None:
    clock = ManualClock(T0)
    broker = PaperBroker(store, clock, starting_cash=D(100_000))
    _bars(store, 0, {"AAA": 10.0, "BBB": 20.0, "CCC": 30.0})
    for i, (coid, sym, side, qty) in enumerate([("a", "BBB", "buy", "10"), ("b", "AAA", "buy", "5"),
                                                ("c", "CCC", "sell", "3"), ("d", "AAA", "sell", "5")]):
        broker.submit_order(OrderRequest(coid, sym, OrderSide(side), D(qty), OrderType.MARKET))
        clock.advance(timedelta(minutes=1))
        broker.process_bars(_bars(store, i + 1, {"AAA": 11.0 + i, "BBB": 19.5, "CCC": 31.0}))
    since = T0 - timedelta(minutes=1)
    account, positions, orders, fills = broker.books_since(since)
    assert account == broker.get_account()
    assert positions == broker.get_positions()
    assert orders == broker.list_orders_since(since)
    assert fills == broker.fills_since(since)
    assert len(fills) == 4 and [p.symbol for p in positions] == ["BBB", "CCC"]  # AAA was bought and sold: flat, not listed


def test_upsert_is_upsert_rows_statement(store: Store) -> None:
    rows = [{"symbol": "AAA", "qty": D(1), "avg_entry_price": D(2), "market_price": D(3), "unrealized_pnl": D(1),
             "updated_at": T0}]
    with store.write() as s:
        upsert(s, PositionRow.__table__, rows, key=("symbol",))
        upsert(s, PositionRow.__table__, [{**rows[0], "qty": D(5)}], key=("symbol",))
        upsert_rows(s, PositionRow.__table__, [{**rows[0], "symbol": "BBB"}], key=["symbol"])
    with store.read() as s:
        got = {p.symbol: p.qty for p in s.scalars(select(PositionRow))}
    assert got == {"AAA": D(5), "BBB": D(1)}
    table = PositionRow.__table__
    assert upsert_statement("sqlite", table, tuple(rows[0]), ("symbol",)) is upsert_statement(
        "sqlite", table, tuple(rows[0]), ("symbol",))


def test_update_marks_raises_the_peak_and_rolls_the_day(store: Store) -> None:
    with store.write() as s:
        first = update_marks(s, T0, D(100))
        higher = update_marks(s, T0 + timedelta(hours=1), D(120))
        lower = update_marks(s, T0 + timedelta(hours=2), D(110))
        next_day = update_marks(s, T0 + timedelta(days=1), D(105))
    assert (first.peak, first.start_of_day) == (D(100), D(100))
    assert (higher.peak, higher.start_of_day) == (D(120), D(100))
    assert (lower.peak, lower.start_of_day) == (D(120), D(100))
    assert (next_day.peak, next_day.start_of_day, next_day.day) == (D(120), D(105), "2026-01-06")
    with store.read() as s:
        marks = read_marks(s)
        keys = {r.key for r in s.scalars(select(KeyValue))}
    assert (marks.peak, marks.start_of_day, marks.day) == (D(120), D(105), "2026-01-06")
    assert {PEAK_KEY, START_OF_DAY_KEY} <= keys


def test_ensure_current_records_active_once(store: Store) -> None:
    with store.write() as s:
        snap = trading_state.ensure_current(s, T0)
        again = trading_state.ensure_current(s, T0 + timedelta(hours=1))
    assert snap.state is trading_state.TradingState.ACTIVE and again == snap
    with store.read() as s:
        assert trading_state.current(s) == snap


def test_insert_ignoring_skips_stored_keys(store: Store) -> None:
    fill = {"fill_key": "f1", "client_order_id": "c1", "symbol": "AAA", "side": "buy", "qty": D(1), "price": D(2),
            "commission": D(0), "ts": T0}
    with store.write() as s:
        insert_ignoring(s, FillRow.__table__, [fill])
        insert_ignoring(s, FillRow.__table__, [{**fill, "qty": D(9)}, {**fill, "fill_key": "f2"}])
    with store.read() as s:
        assert {f.fill_key: f.qty for f in s.scalars(select(FillRow))} == {"f1": D(1), "f2": D(1)}
