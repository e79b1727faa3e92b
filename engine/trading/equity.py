"""Equity reference points that must survive a restart: the running peak and the start-of-day equity.

Both live in engine_kv. Drawdown is measured from the PEAK (never from the starting equity);
the daily loss from the first equity seen on the current trading day, which follows the market
source's exchange session (engine/market/exchange.py: Alpaca -> XNYS in America/New_York, where a
weekend or holiday belongs to the next session; the simulated market -> its configured timezone,
by default the workbook's MasterConfiguration market_timezone), so the day rolls at the exchange's
midnight rather than UTC's.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.params.paramset import ParamSet
from engine.params.typed import Parameters
from engine.store.models import AccountSnapshot, KeyValue
from engine.trading.upserts import upsert

PEAK_KEY = "risk.equity_peak"
START_OF_DAY_KEY = "risk.start_of_day"


@dataclass(frozen=True, slots=True)
class EquityMarks:
    equity: Decimal | None  # latest account snapshot
    peak: Decimal | None
    start_of_day: Decimal | None
    day: str | None


def _put_mark(session: Session, rows: dict[str, KeyValue], key: str, value: dict[str, str], now: datetime) -> None:
    """engine.store.keyvalue.put_value with the mark rows already read: update the row read, or store a new
    one by an upsert (the account and reconcile jobs may both store the first mark at once)."""
    row = rows.get(key)
    if row is None:
        upsert(session, KeyValue.__table__, [{"key": key, "value": value, "updated_at": now}], key=("key",))
    else:
        row.value, row.updated_at = value, now


# Built once (read_marks runs several times a cycle): constructing them cost more than running them.
_LATEST_SNAPSHOT = select(AccountSnapshot).order_by(AccountSnapshot.id.desc()).limit(1)
_MARK_ROWS = select(KeyValue).where(KeyValue.key.in_((PEAK_KEY, START_OF_DAY_KEY)))
_LATEST_EQUITY = select(AccountSnapshot.equity).order_by(AccountSnapshot.id.desc()).limit(1)


def latest_equity(session: Session) -> Decimal | None:
    """read_marks(session).equity without reading the peak and start-of-day rows: the risk cycle's book
    needs only the equity, every cycle."""
    return session.scalars(_LATEST_EQUITY).first()


def read_marks(session: Session) -> EquityMarks:
    # the newest row, not the latest ts: snapshots carry the market clock's time, and a store whose older
    # snapshots were stamped on the wall clock would otherwise keep answering with those
    latest = session.scalars(_LATEST_SNAPSHOT).first()
    kv = {row.key: row.value for row in session.scalars(_MARK_ROWS)}
    return marks_of(latest.equity if latest else None, kv)


def marks_of(equity: Decimal | None, kv: Mapping[str, Any]) -> EquityMarks:
    """read_marks's answer from the newest equity and the stored values by key (PEAK_KEY, START_OF_DAY_KEY):
    for callers that read these keys with others in one statement."""
    peak, sod = kv.get(PEAK_KEY), kv.get(START_OF_DAY_KEY)
    return EquityMarks(
        equity=equity,
        peak=Decimal(peak["equity"]) if peak else None,
        start_of_day=Decimal(sod["equity"]) if sod else None,
        day=sod["day"] if sod else None,
    )


def market_timezone(ps: ParamSet) -> str:
    """The market's timezone from a parameter set: it decides when the trading day rolls."""
    return Parameters(ps).master_configuration.market_timezone


def trading_day(now: datetime, tz: Any) -> str:
    """ISO date of the trading day of `now`: a MarketCalendar decides, or a timezone name's calendar day
    (a naive `now` is taken as UTC)."""
    if hasattr(tz, "trading_day"):
        return str(tz.trading_day(now))
    aware = now if now.tzinfo is not None else now.replace(tzinfo=ZoneInfo("UTC"))
    return aware.astimezone(ZoneInfo(tz)).date().isoformat()


def shift_marks(session: Session, amount: Decimal, now: datetime, equity: Decimal) -> None:
    """Move the stored peak and start-of-day equity by a deposit (+) or withdrawal (-) that just reached the
    account (engine/trading/cash_flows.py), in proportion: each mark is scaled by equity / (equity - amount),
    the equity after the flow over the equity just before it. Drawdown and daily loss, as percentages, are then
    what they were before the flow (the time-weighted way the Performance page measures them,
    engine/analytics/flows.py): 5% down from a 100,000 peak, 45,000 withdrawn, is still 5% down (subtracting the
    amount from the peak read 9.1% and could trip the drawdown halt). A flow into an account worth nothing
    before it, or one that leaves nothing, restarts the marks at the current equity."""
    before = equity - amount
    rows = {row.key: row for row in session.scalars(_MARK_ROWS)}
    for key in (PEAK_KEY, START_OF_DAY_KEY):
        row = rows.get(key)
        if row is None:
            continue
        moved = Decimal(row.value["equity"]) * equity / before if before > 0 and equity > 0 else Decimal(0)
        row.value = {**row.value, "equity": str(moved if moved > 0 else equity)}
        row.updated_at = now
    session.flush()


def update_marks(session: Session, now: datetime, equity: Decimal, tz: Any = "UTC",
                 prior_close: Decimal | None = None,
                 flows_since_close: Callable[[], Decimal] | None = None) -> EquityMarks:
    """Raise the peak when equity makes a new high; reset start-of-day on a new trading day in `tz`.

    `prior_close`: the broker's equity at the previous session's close (Alpaca's last_equity), the start of the
    day when given: a first sync after an engine (re)start mid-session otherwise took the equity then, and the
    day's loss so far went uncounted (4% down against a 3% limit read 0%). `flows_since_close`: the deposits and
    withdrawals since that close (asked only when the day rolls), which the close's equity does not include."""
    # only the two mark rows: read_marks would also read the newest snapshot, whose equity this call is given
    rows = {row.key: row for row in session.scalars(_MARK_ROWS)}
    kv = {key: row.value for key, row in rows.items()}
    stored_peak, stored_sod = kv.get(PEAK_KEY), kv.get(START_OF_DAY_KEY)
    peak = Decimal(stored_peak["equity"]) if stored_peak else None
    if peak is None or equity > peak:
        peak = equity
        _put_mark(session, rows, PEAK_KEY, {"equity": str(equity), "ts": now.isoformat()}, now)
    day = stored_sod["day"] if stored_sod else None
    sod = Decimal(stored_sod["equity"]) if stored_sod else None
    today = trading_day(now, tz)
    if day != today or sod is None:
        day, sod = today, equity
        if prior_close is not None and prior_close > 0:
            moved = prior_close + (flows_since_close() if flows_since_close is not None else Decimal(0))
            sod = moved if moved > 0 else equity
        _put_mark(session, rows, START_OF_DAY_KEY, {"day": today, "equity": str(sod)}, now)
    session.flush()
    return EquityMarks(equity=equity, peak=peak, start_of_day=sod, day=day)
