"""Recording the broker's deposits and withdrawals in the account sync, and moving the risk marks by them.

Why: a withdrawal of 10,000 from 100,000 is not a 10% loss. Each cash flow is stored once (cash_flows, unique
activity id, so a second sync or a restart never counts it again) and, when first seen by a sync, scales the stored
equity peak and start-of-day equity by it (equity.shift_marks: after / before the flow) in the same transaction as
the snapshot that includes it: drawdown and daily loss, as percentages, are then unaffected by it.

The newest flow date seen is kept in engine_kv (CURSOR_KEY); each read starts OVERLAP before it (a journal can be
dated a few days back), and the unique id drops what was stored already. The first read ever (no cursor: a new
store, or the first sync after the upgrade) records the account's cash history without moving the marks: their
equity includes that history already. Flows are read before the account, so a flow the account's equity shows is
normally in the same sync's list; for one the broker lists a little after the equity moved, a daily-loss or
drawdown breach is confirmed by a second read before it fires (sync.sync_from_broker), which lists it.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from engine.store.models import AccountSnapshot, CashFlowRow, KeyValue
from engine.trading.brokers.base import BrokerCashFlow
from engine.trading.equity import shift_marks
from engine.trading.upserts import insert_ignoring, upsert

CURSOR_KEY = "cash_flows.cursor"
OVERLAP = timedelta(days=7)
MAX_DAYS_BETWEEN_SESSIONS = 14

_CURSOR = select(KeyValue.value).where(KeyValue.key == CURSOR_KEY)
_KNOWN = select(CashFlowRow.activity_id).where(CashFlowRow.activity_id.in_(bindparam("ids", expanding=True)))


def read_since(session: Session, now: datetime) -> tuple[bool, datetime]:
    """(read before, where the next read starts): OVERLAP before the newest flow seen; without one, where the
    first read started; never read, a day before the first snapshot (older flows span no stored return)."""
    value = session.scalars(_CURSOR).first()
    if value is not None and value.get("newest"):
        return True, datetime.fromisoformat(value["newest"]) - OVERLAP
    if value is not None and value.get("floor"):
        return True, datetime.fromisoformat(value["floor"])
    first = session.scalar(select(func.min(AccountSnapshot.ts)))
    return value is not None, min(first or now, now) - timedelta(days=1)


def record_flows(session: Session, broker: str, flows: list[BrokerCashFlow], snapshot: AccountSnapshot,
                 now: datetime, *, first_read: bool, since: datetime) -> list[CashFlowRow]:
    """Store the flows not stored yet and shift the marks by those first seen now (not by a first read's history);
    the new rows. `snapshot`: this sync's snapshot, flushed (its id is the first to include a new flow).

    The cursor row is written first: on PostgreSQL it locks out a concurrent sync (the account and reconcile jobs)
    until this one commits, so the other then sees these rows and the shifted marks, and never shifts twice."""
    old = session.scalars(_CURSOR).first() or {}
    seen = [f.occurred_at for f in flows] + ([datetime.fromisoformat(old["newest"])] if old.get("newest") else [])
    newest = max(seen).isoformat() if seen else None
    cursor = {"newest": newest, "floor": old.get("floor") or since.isoformat(), "read_at": now.isoformat()}
    upsert(session, KeyValue.__table__, [{"key": CURSOR_KEY, "value": cursor, "updated_at": now}], key=("key",))
    if not flows:
        return []
    known = set(session.scalars(_KNOWN, {"ids": [f.activity_id for f in flows]}))
    rows: list[dict[str, Any]] = []
    for f in sorted({f.activity_id: f for f in flows if f.activity_id not in known}.values(),
                    key=lambda f: (f.occurred_at, f.activity_id)):
        sid, after = (snapshot.id, snapshot.equity) if not first_read else _snapshot_after(session, f.occurred_at)
        rows.append({"activity_id": f.activity_id, "broker": broker[:16], "kind": f.kind[:16], "amount": f.amount,
                     "occurred_at": f.occurred_at, "recorded_at": now, "snapshot_id": sid, "equity_after": after,
                     "moved_marks": not first_read, "description": f.description})
    insert_ignoring(session, CashFlowRow.__table__, rows)
    moved = sum((r["amount"] for r in rows if r["moved_marks"]), Decimal(0))
    if moved:
        shift_marks(session, moved, now, snapshot.equity)
    return [CashFlowRow(**r) for r in rows]


def _snapshot_after(session: Session, at: datetime) -> tuple[int | None, Decimal | None]:
    """The first snapshot at or after `at` and its equity, or (None, None) when none is, or when it is the first
    snapshot of all (the flow predates the history: no return spans it)."""
    row = session.execute(select(AccountSnapshot.id, AccountSnapshot.equity).where(AccountSnapshot.ts >= at)
                          .order_by(AccountSnapshot.id).limit(1)).first()
    first = session.scalar(select(func.min(AccountSnapshot.id)))
    if row is None or row[0] == first:
        return None, None
    return int(row[0]), row[1]


def flows_since_close(session: Session, now: datetime, calendar: Any) -> Decimal:
    """The flows the marks moved by since the previous session's close: the broker's previous close equity
    (Alpaca's last_equity, the start of a new day) does not include them. 0 without an exchange calendar."""
    if not hasattr(calendar, "regular_hours"):
        return Decimal(0)
    today = date.fromisoformat(calendar.trading_day(now))
    day = today - timedelta(days=1)
    for _ in range(MAX_DAYS_BETWEEN_SESSIONS):
        hours = calendar.regular_hours(day)
        if hours is not None:
            break
        day -= timedelta(days=1)
    else:
        return Decimal(0)
    total = session.scalars(select(CashFlowRow.amount).where(
        CashFlowRow.moved_marks.is_(True), CashFlowRow.recorded_at >= hours[1],
        CashFlowRow.occurred_at >= hours[1] - timedelta(days=1)))
    return sum(total, Decimal(0))


def roll_adjustment(session: Session, now: datetime, calendar: Any) -> Callable[[], Decimal]:
    """flows_since_close as update_marks asks it: only when the day rolls."""
    return lambda: flows_since_close(session, now, calendar)
