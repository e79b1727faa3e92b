"""The planner's last trade and position-opened time per symbol (SQLite and PostgreSQL, engine/planner/held_since.py).
A position is opened when it last went from zero (or the other side) to what it is now: a partial sell does not reopen
it (audit 5, P4: it used to, as "the first buy after the last sell"). The database's answer equals a forward walk over
the whole fill history done here in plain Python."""
from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from engine.planner.held_since import last_trades, opened_at
from engine.planner.types import LastTrade
from engine.store.db import Store
from engine.store.migrate import open_store
from engine.store.models import AccountSnapshot, FillRow, PositionRow

T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
NOW = T0 + timedelta(days=1)
Row = tuple[int, str, str, datetime, int]  # id, symbol, side, time, quantity


def _walk(rows: list[Row]) -> tuple[dict[str, LastTrade], dict[str, datetime], dict[str, int]]:
    """Per symbol, over its whole history in (time, id) order from a flat position: the last fill is the last trade;
    a fill that takes the position off zero, or across it, opens it; what is left open is the position."""
    last: dict[str, LastTrade] = {}
    opened: dict[str, datetime] = {}
    held: dict[str, int] = {}
    for symbol in sorted({r[1] for r in rows}):
        position, start = 0, None
        for _, _, side, ts, qty in sorted((r for r in rows if r[1] == symbol), key=lambda r: (r[3], r[0])):
            after = position + (qty if side == "buy" else -qty)
            if after != 0 and (position == 0 or (position > 0) != (after > 0)):
                start = ts
            position = after
            last[symbol] = LastTrade(ts, side)
        if position != 0:
            assert start is not None
            opened[symbol], held[symbol] = start, position
    return last, opened, held


def _store(url: str, rows: list[Row], held: dict[str, int], snapshots: tuple[datetime, ...] = ()) -> Store:
    store = open_store(url, migrate=True)
    with store.write() as s:
        for i, symbol, side, ts, qty in rows:
            s.add(FillRow(id=i, fill_key=f"k{i}", client_order_id=f"c{i}", symbol=symbol, side=side,
                          qty=Decimal(qty), price=Decimal(100), commission=Decimal(0), ts=ts))
        for symbol, qty in held.items():
            s.add(PositionRow(symbol=symbol, qty=Decimal(qty), avg_entry_price=Decimal(100), market_price=None,
                              unrealized_pnl=None, updated_at=NOW))
        for ts in snapshots:
            s.add(AccountSnapshot(ts=ts, broker="paper", cash=Decimal(1000), equity=Decimal(1000),
                                  buying_power=Decimal(1000), gross_exposure=Decimal(0)))
    return store


def _read(store: Store, held: dict[str, int]) -> tuple[dict[str, LastTrade], dict[str, datetime]]:
    try:
        with store.read() as s:
            return last_trades(s), opened_at(s, {symbol: Decimal(qty) for symbol, qty in held.items()}, NOW)
    finally:
        store.dispose()


def test_hand_computed_history(any_db_url: str) -> None:
    m = timedelta(minutes=1)
    rows = [(1, "AAA", "buy", T0, 2), (2, "AAA", "buy", T0 + m, 1), (3, "AAA", "sell", T0 + 2 * m, 1),  # a trim
            (4, "AAA", "buy", T0 + 3 * m, 1),  # 2, 3, 2, 3: never flat, opened at its first buy
            (5, "BBB", "buy", T0, 1), (6, "BBB", "sell", T0 + m, 1), (7, "BBB", "buy", T0 + 4 * m, 2),  # reopened
            (8, "CCC", "buy", T0 + m, 1),
            (9, "DDD", "sell", T0 + 5 * m, 2), (10, "DDD", "buy", T0 + 5 * m, 1),  # a short, half covered
            (11, "EEE", "buy", T0, 3), (12, "EEE", "sell", T0 + 2 * m, 5),  # flipped to a 2-share short
            (13, "FFF", "buy", T0 + 3 * m, 4),  # 4 of its 10 shares: the fills do not reach its opening
            (14, "HHH", "buy", T0, 1), (15, "HHH", "sell", T0 + m, 1)]  # closed
    held = {"AAA": 3, "BBB": 2, "CCC": 1, "DDD": -1, "EEE": -2, "FFF": 10, "GGG": 5}  # GGG: synced, no fills
    first_sync = T0 - timedelta(days=3)
    last, opened = _read(_store(any_db_url, rows, held, (T0 + 10 * m, first_sync)), held)
    assert last == {"AAA": LastTrade(T0 + 3 * m, "buy"), "BBB": LastTrade(T0 + 4 * m, "buy"),
                    "CCC": LastTrade(T0 + m, "buy"), "DDD": LastTrade(T0 + 5 * m, "buy"),
                    "EEE": LastTrade(T0 + 2 * m, "sell"), "FFF": LastTrade(T0 + 3 * m, "buy"),
                    "HHH": LastTrade(T0 + m, "sell")}
    assert opened == {"AAA": T0, "BBB": T0 + 4 * m, "CCC": T0 + m, "DDD": T0 + 5 * m, "EEE": T0 + 2 * m,
                      "FFF": first_sync, "GGG": first_sync}


def test_a_position_with_no_fills_and_no_account_sync_is_opened_now(any_db_url: str) -> None:
    assert _read(_store(any_db_url, [], {"AAA": 7}), {"AAA": 7}) == ({}, {"AAA": NOW})


def test_random_histories_equal_the_whole_walk(any_db_url: str) -> None:
    rnd = random.Random(5)
    rows: list[Row] = []
    for i in range(1, 1501):  # 1,500 fills on 6 symbols over ~8 hours, with repeated minutes (ties)
        rows.append((i, rnd.choice("ABCDEF") * 3, rnd.choice(("buy", "buy", "sell")),
                     T0 + timedelta(minutes=rnd.randrange(500)), rnd.choice((1, 1, 2))))
    want_last, want_opened, held = _walk(rows)
    got = _read(_store(any_db_url, rows, held), held)
    assert got == (want_last, want_opened)
    assert len(want_opened) >= 3, "the history should leave several positions open"
