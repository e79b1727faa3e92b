"""The planner's fill history per symbol: its last trade (the cooldown) and when each held position was opened (the
minimum hold, filters/eligibility.py).

A position is opened when it last went from zero (or the other side) to what it is now: a partial sell, a trim or a
partial stop fill does not reopen the rest. The walk runs back from the position held (the positions table) over the
held symbols' fills, newest first, and stops at each one's opening, so a cycle reads only the fills of the current
holding periods, and none older than HORIZON (longer than any minimum hold: an opening before it is past every hold).
A position the fills within HORIZON cannot date (synced from the broker without its fills, or opened before HORIZON)
is taken as opened at the account's first sync (the earliest account snapshot: the earliest the engine could have seen
it), or `now` when there is none. Unknown is never "held long enough" just for being unknown; but the store keeps no
per-position first-seen time, so a position that appears without fills long after the first sync is dated by that
first sync.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import Select, bindparam, func, or_, select
from sqlalchemy.orm import Session

from engine.planner.types import LastTrade
from engine.store.models import AccountSnapshot, FillRow

HORIZON = timedelta(days=366)  # the longest minimum hold a preset may set is 365 days (preset_schema)


def _recent_fills() -> Select:
    """Each symbol's fills from its last sell on, oldest first: enough to know its last trade."""
    last_sell = (select(FillRow.symbol, func.max(FillRow.ts).label("ts"))
                 .where(func.lower(FillRow.side) == "sell").group_by(FillRow.symbol).subquery())
    return (select(FillRow.symbol, FillRow.side, FillRow.ts)
            .outerjoin(last_sell, last_sell.c.symbol == FillRow.symbol)
            .where(or_(last_sell.c.ts.is_(None), FillRow.ts >= last_sell.c.ts))
            .order_by(FillRow.ts, FillRow.id))


# Built once: the planner reads these every cycle, and building (and cache-keying) a statement cost more than running
# it on a backtest's in-memory store.
_RECENT_FILLS = _recent_fills()
_HELD_FILLS = (select(FillRow.symbol, FillRow.side, FillRow.qty, FillRow.ts)
               .where(FillRow.symbol.in_(bindparam("held", expanding=True)), FillRow.ts >= bindparam("since"))
               .order_by(FillRow.ts.desc(), FillRow.id.desc()).execution_options(yield_per=256))
_FIRST_SYNC = select(func.min(AccountSnapshot.ts))


def last_trades(session: Session) -> dict[str, LastTrade]:
    """Each symbol's newest fill (time, side)."""
    return {symbol: LastTrade(ts, str(side).lower()) for symbol, side, ts in session.execute(_RECENT_FILLS)}


def opened_at(session: Session, held: Mapping[str, Decimal], now: datetime) -> dict[str, datetime]:
    """When each held position (symbol -> signed quantity, not 0) was opened; see the module's docstring."""
    left = dict(held)  # per symbol, the position just after the fill being read
    found: dict[str, datetime] = {}
    if left:
        rows = session.execute(_HELD_FILLS, {"held": list(left), "since": now - HORIZON})
        for symbol, side, qty, ts in rows:
            if symbol in found:
                continue
            after = left[symbol]
            before = after + (qty if str(side).lower() == "sell" else -qty)
            if before == 0 or (before > 0) != (after > 0):
                found[symbol] = ts
                if len(found) == len(left):
                    break
            else:
                left[symbol] = before
        rows.close()
    if missing := [s for s in held if s not in found]:
        first = session.scalar(_FIRST_SYNC)
        found.update(dict.fromkeys(missing, min(first, now) if first is not None else now))
    return {s: found[s] for s in held}
