"""The planner's last trade and position-opened time per symbol (SQLite and PostgreSQL), read from only each
symbol's fills since its last sell, equal to a walk over the whole fill history done here in plain Python."""
from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from engine.planner.portfolio import _fills
from engine.planner.types import LastTrade
from engine.store.db import Store
from engine.store.migrate import open_store
from engine.store.models import FillRow

T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


def _walk(rows: list[tuple[int, str, str, datetime]]) -> tuple[dict[str, LastTrade], dict[str, datetime]]:
    """Per symbol, over its whole history in (time, id) order: the last fill is the last trade; the fills after
    its last sell are all buys, and the first of them opened the position (none left: the position is closed)."""
    last: dict[str, LastTrade] = {}
    opened: dict[str, datetime] = {}
    for symbol in {r[1] for r in rows}:
        history = sorted((r for r in rows if r[1] == symbol), key=lambda r: (r[3], r[0]))
        last[symbol] = LastTrade(history[-1][3], history[-1][2])
        sells = [i for i, r in enumerate(history) if r[2] == "sell"]
        since_last_sell = history[sells[-1] + 1:] if sells else history
        if since_last_sell:
            opened[symbol] = since_last_sell[0][3]
    return last, opened


def _store(url: str, rows: list[tuple[int, str, str, datetime]]) -> Store:
    store = open_store(url, migrate=True)
    with store.write() as s:
        for i, symbol, side, ts in rows:
            s.add(FillRow(id=i, fill_key=f"k{i}", client_order_id=f"c{i}", symbol=symbol, side=side, qty=Decimal(1),
                          price=Decimal(100), commission=Decimal(0), ts=ts))
    return store


def test_hand_computed_history(any_db_url: str) -> None:
    minute = timedelta(minutes=1)
    rows = [(1, "AAA", "buy", T0), (2, "AAA", "buy", T0 + minute), (3, "AAA", "sell", T0 + 2 * minute),
            (4, "AAA", "buy", T0 + 3 * minute), (5, "AAA", "buy", T0 + 4 * minute),  # reopened at +3
            (6, "BBB", "buy", T0), (7, "BBB", "sell", T0 + minute),  # closed
            (8, "CCC", "buy", T0 + minute),  # never sold: opened at its first buy
            (9, "DDD", "sell", T0 + 5 * minute), (10, "DDD", "buy", T0 + 5 * minute)]  # same minute: id orders
    store = _store(any_db_url, rows)
    try:
        with store.read() as s:
            last, opened = _fills(s)
    finally:
        store.dispose()
    assert last == {"AAA": LastTrade(T0 + 4 * minute, "buy"), "BBB": LastTrade(T0 + minute, "sell"),
                    "CCC": LastTrade(T0 + minute, "buy"), "DDD": LastTrade(T0 + 5 * minute, "buy")}
    assert opened == {"AAA": T0 + 3 * minute, "CCC": T0 + minute, "DDD": T0 + 5 * minute}


def test_random_histories_equal_the_whole_walk(any_db_url: str) -> None:
    rnd = random.Random(5)
    rows = []
    for i in range(1, 1501):  # 1,500 fills on 6 symbols over ~8 hours, with repeated minutes (ties)
        rows.append((i, rnd.choice("ABCDEF") * 3, rnd.choice(("buy", "buy", "sell")),
                     T0 + timedelta(minutes=rnd.randrange(500))))
    store = _store(any_db_url, rows)
    try:
        with store.read() as s:
            got = _fills(s)
    finally:
        store.dispose()
    want = _walk(rows)
    assert got == want
    assert len(want[1]) >= 3, "the history should leave several positions open"
