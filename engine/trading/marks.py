"""Last prices from the store's bars table: what the paper broker, the gateway and sync mark to."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from functools import lru_cache

from sqlalchemy import TextualSelect, text
from sqlalchemy.orm import Session

from engine.store.models import BarRow


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


def latest_closes(session: Session, symbols: Iterable[str]) -> dict[str, tuple[Decimal, datetime]]:
    """The last stored close (and its bar time) per symbol; symbols without bars are absent.

    One statement: a UNION ALL of indexed `ORDER BY ts DESC LIMIT 1` lookups (uq_bars_symbol_ts),
    so the cost does not grow with the length of the history.
    """
    wanted = sorted(set(symbols))
    if not wanted:
        return {}
    rows = session.execute(_latest_closes_sql(len(wanted)), {f"s{i}": sym for i, sym in enumerate(wanted)})
    return {sym: (to_decimal(close), ts) for sym, close, ts in rows}
