"""Last prices from the store's bars table: what the paper broker, the gateway and sync mark to."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Protocol, TypeGuard

from sqlalchemy import TextualSelect, func, select, text
from sqlalchemy.orm import Session

from engine.store.keyvalue import MARKET_DATA_KEY  # {"ts": iso} written by the market job
from engine.store.models import BarRow, KeyValue, PositionRow
from engine.trading.open_sides import NONE_OPEN, OpenSides, worst_qty


def valid_price(price: Decimal | None) -> TypeGuard[Decimal]:
    """A price a limit or a mark may use: finite and above 0. A bad print of 0 (or NaN, which PostgreSQL stores)
    prices every notional limit at nothing, and the order then fills at the real price."""
    return price is not None and price.is_finite() and price > 0


def position_mark(close: tuple[Decimal, datetime] | None, row: PositionRow | None) -> tuple[Decimal, str] | None:
    """The price a held symbol is valued at, and which one: its last close, else the broker's market price on its
    position row, else that row's average entry price (as the paper broker values a position without bars).
    None: no valid price at all (its exposure is unknown)."""
    if close is not None and valid_price(close[0]):
        return close[0], "close"
    if row is not None and valid_price(row.market_price):
        return row.market_price, "market_price"
    if row is not None and valid_price(row.avg_entry_price):
        return row.avg_entry_price, "avg_entry_price"
    return None


def to_decimal(value: float) -> Decimal:
    """Bar prices are floats (analytics); they become money through their shortest repr."""
    return Decimal(repr(float(value)))


@lru_cache(maxsize=64)
def _latest_closes_sql(count: int) -> TextualSelect:
    """The statement for `count` symbols, built once per count: it is read several times a cycle, and
    parsing the text (and cache-keying it) cost more than running it."""
    sql = " UNION ALL ".join(
        f"SELECT * FROM (SELECT symbol, close, ts FROM bars WHERE symbol = :s{i} ORDER BY ts DESC LIMIT 1) AS t{i}"
        for i in range(count)
    )
    return text(sql).columns(BarRow.symbol, BarRow.close, BarRow.ts)


RUN_BARS_KEY = "backtest_run_bars"  # Session.info key: a backtest's bars in memory (engine/backtest/private.py)


class StoredCloses(Protocol):
    """A backtest's bars in memory (engine/backtest/history.py RunBars): the store's newest closes, from memory."""

    def latest(self, symbols: Sequence[str]) -> dict[str, tuple[float, datetime]]: ...


def latest_closes(session: Session, symbols: Iterable[str]) -> dict[str, tuple[Decimal, datetime]]:
    """The last stored close (and its bar time) per symbol; symbols without bars are absent.

    One statement: a UNION ALL of indexed `ORDER BY ts DESC LIMIT 1` lookups (uq_bars_symbol_ts),
    so the cost does not grow with the length of the history. A backtest's sessions carry its bars in memory
    (Session.info[RUN_BARS_KEY]), which answer the same rows without the statement (the live engine has none).
    """
    wanted = sorted(set(symbols))
    if not wanted:
        return {}
    run_bars: StoredCloses | None = session.info.get(RUN_BARS_KEY)
    if run_bars is not None:
        return {sym: (to_decimal(close), ts) for sym, (close, ts) in run_bars.latest(wanted).items()}
    rows = session.execute(_latest_closes_sql(len(wanted)), {f"s{i}": sym for i, sym in enumerate(wanted)})
    return {sym: (to_decimal(close), ts) for sym, close, ts in rows}


_NEWEST_BAR = select(func.max(BarRow.ts))  # ix_bars_ts: one index lookup


def symbol_data_time(session: Session, bar_ts: datetime | None, now: datetime, wall_clock_bars: bool) -> datetime | None:
    """When the traded symbol's data last arrived (None = freshness unknown).

    With the market job's receipt time (MARKET_DATA_KEY): that time, made older by how far the symbol's last
    bar lags the newest bar in the store. Bar times are compared only with bar times, never with the wall
    clock: a bar is stamped with its open, and a replayed or daily bar may carry a time days or hours past;
    a symbol that keeps up with the feed has the newest bar's time (lag 0) and is exactly as fresh as the
    feed, while one whose bars stopped 2 days ago is 2 days older than the feed, whatever other symbols bring.
    Receipt alone would call a feed fresh that keeps arriving but runs minutes behind: when the market job
    records that its source's bar times are wall-clock times ("bar_s", the bar length: Alpaca), the data is
    also never newer than the symbol's last bar's end. The simulated and CSV sources record no "bar_s".
    Without a receipt time: the bar's own time on a wall-clock source; nothing on the simulated one, whose
    bar times are simulated times.
    """
    row = session.get(KeyValue, MARKET_DATA_KEY)
    if row is not None and isinstance(row.value, dict) and row.value.get("ts"):
        received = datetime.fromisoformat(row.value["ts"])
        if bar_ts is None:
            return received  # no bar of the symbol at all: refused for that (no market data)
        newest = session.scalar(_NEWEST_BAR)
        at = received - max(newest - bar_ts, timedelta(0)) if newest is not None else received
        bar_s = row.value.get("bar_s")
        if isinstance(bar_s, int | float) and not isinstance(bar_s, bool):
            at = min(at, bar_ts + timedelta(seconds=float(bar_s)))
        return at
    return None if bar_ts is None or not wall_clock_bars else min(bar_ts, now)


def projected_gross(symbols: set[str], positions: dict[str, Decimal], sides: dict[str, OpenSides],
                    closes: dict[str, tuple[Decimal, datetime]], rows: dict[str, PositionRow],
                    ) -> tuple[Decimal, tuple[str, ...]]:
    """Projected gross exposure, each symbol at its last close, else its position row's market or entry price
    (a position bought outside the bar universe still counts); and the symbols with no price at all.
    Each symbol counts its worst case (engine/trading/open_sides.py): a resting exit may never fill, so it is not
    netted against the position or against resting orders that add to it."""
    gross, unpriced = Decimal(0), []
    for s in sorted(symbols):
        size = abs(worst_qty(positions.get(s, Decimal(0)), sides.get(s, NONE_OPEN)))
        if size == 0:
            continue
        mark = position_mark(closes.get(s), rows.get(s))
        if mark is None:
            unpriced.append(s)
        else:
            gross += size * mark[0]
    return gross, tuple(unpriced)
