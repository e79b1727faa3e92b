"""Which price the risk book values a held symbol at once its last stored close is old.

A close is valued as it stands while it is fresh. When the broker reported the position more than the stale-data
limit (TradingRisk.stale_data_seconds, the limit the gateway's stale-data check uses) after that close's bar
ended, the close no longer says what the position is worth. The book then uses the broker's market price on the
position row and names the symbol in the risk report's note. Exposure, VaR and stress all read those values.

Both times are on the market clock: bars carry market time, and the sync stamps a position row (with its market
price) with the market time it read the broker. So a simulated market at any pace compares like with like. A bar
is stamped with its open; its close is as of the bar's end, which the market job records as "bar_s" for a
wall-clock source (Alpaca). Other sources record no bar length, so their closes are aged from the bar's open.
A wall-clock close is aged within the exchange's sessions (engine/market/data_age.py): reported on a Saturday, a
close from Friday's final minutes is current, not 44 hours old; during the session it ages from no earlier than
the open.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from engine.market.data_age import data_age_s, wall_clock_calendar
from engine.store.keyvalue import MARKET_DATA_KEY
from engine.store.models import KeyValue, PositionRow
from engine.trading.marks import position_mark, valid_price
from engine.trading.order_limits import active_version_limits

NOTE_NAMES = 8  # symbols the note lists by name; the rest are counted


@dataclass(frozen=True, slots=True)
class StaleClose:
    """A held symbol whose last close is older than the limit, and what it is valued at instead."""

    symbol: str
    age_s: float  # how long the broker's report came after the close's bar ended
    price: Decimal
    how: str  # "market_price", or "close" when the broker gave no valid price to use instead


def stale_limit_s(session: Session) -> float:
    """The active parameter version's stale-data limit, in seconds (cached per version: one indexed read)."""
    return float(active_version_limits(session)[1].stale_data_seconds)


def bar_length_s(session: Session) -> float:
    """How long a bar lasts when the market job recorded it (a wall-clock source), else 0."""
    row = session.get(KeyValue, MARKET_DATA_KEY)
    bar_s = row.value.get("bar_s") if row is not None and isinstance(row.value, dict) else None
    return float(bar_s) if isinstance(bar_s, int | float) and not isinstance(bar_s, bool) else 0.0


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


def fresh_mark(symbol: str, close: tuple[Decimal, datetime] | None, row: PositionRow | None, limit_s: float,
               bar_s: float) -> tuple[tuple[Decimal, str] | None, StaleClose | None]:
    """The mark of `symbol` (engine/trading/marks.position_mark) with a stale close replaced by the broker's
    market price. Also returns the StaleClose when the close was too old (None when it was fresh or unused)."""
    mark = position_mark(close, row)
    if mark is None or mark[1] != "close" or close is None or row is None or row.updated_at is None:
        return mark, None
    if bar_s > 0:  # a wall-clock source (Alpaca): within the exchange's sessions, Friday's close is current all weekend
        age = data_age_s(wall_clock_calendar(), _aware(row.updated_at), _aware(close[1]) + timedelta(seconds=bar_s))
    else:
        age = (_aware(row.updated_at) - _aware(close[1])).total_seconds() - bar_s
    if age <= limit_s:
        return mark, None
    if valid_price(row.market_price):
        return (row.market_price, "market_price"), StaleClose(symbol, age, row.market_price, "market_price")
    return mark, StaleClose(symbol, age, mark[0], "close")


def age_words(seconds: float) -> str:
    """'45 s', '12 min', '5 h', '30 d': an age short enough for a note."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} d"


def stale_note(stale: list[StaleClose], limit_s: float) -> str:
    """The report's note naming the stale-valued symbols ("" when none), so no figure looks current by mistake."""
    if not stale:
        return ""
    parts = []
    for item in sorted(stale, key=lambda s: s.symbol)[:NOTE_NAMES]:
        price = f"{float(item.price):,.2f}"
        used = (f"valued at the broker's market price {price}" if item.how == "market_price"
                else f"still valued at that close {price} (no broker price)")
        parts.append(f"{item.symbol} (last close {age_words(item.age_s)} old, {used})")
    more = len(stale) - NOTE_NAMES
    tail = f" and {more} more" if more > 0 else ""
    return (f"stale prices (last close older than the stale-data limit of {limit_s:.0f} s): "
            + ", ".join(parts) + tail)
