"""What a plan was made on, and the one-send claim: a plan names the portfolio it was computed for (its stamp), and
only one plan per stamp is ever sent. Two tabs (or two traders) pressing Send at the same moment on plans made on the
same portfolio would otherwise both go out and buy twice; the first claim wins, the other is refused as stale.

The claim is a key/value row per stamp, inserted with its unique key in the same write transaction that rechecks
the stamp (SQLite: BEGIN IMMEDIATE; PostgreSQL: a concurrent insert of the same key waits for the first to commit
and then inserts nothing), before any order goes out. A claim whose send placed nothing (every step blocked, not
sent or already sent) is released, so the same plan can go out once trading resumes. A plan made on an earlier
portfolio never claims the current one (webapp/planner_send.py refuses it first, refuse_replay audits that)."""
from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from engine import audit
from engine.protocols import ControlContext
from engine.store.keyvalue import get_value
from engine.store.models import FillRow, KeyValue, OrderRow, ParentOrder, PositionRow
from engine.store.writes import insert_ignoring_duplicates

CLAIM_PREFIX = "planner.sent:"  # + a portfolio stamp (32 hex): fits engine_kv's 64-character key
CLAIM_KEEP = timedelta(days=2)  # a claim older than any cached plan (15 min) can never matter again
STALE = ("not sent: the portfolio changed since this plan was made (a trade, an order or another Send); "
         "review the refreshed preview and send again")


def digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:32]


def portfolio_stamp(session: Session) -> str:
    """What the portfolio is: positions, orders (open ones and last trades), fills and the sliced parents still
    working (a TWAP parent places its children later: until then only its row says a trade is under way)."""
    positions = [(p.symbol, str(p.qty), str(p.avg_entry_price))
                 for p in session.scalars(select(PositionRow).where(PositionRow.qty != 0).order_by(PositionRow.symbol))]
    orders = session.execute(select(func.max(OrderRow.id), func.max(OrderRow.updated_at))).one()
    newest_fill = session.scalars(select(func.max(FillRow.id))).first()
    newest_parent = session.scalars(select(func.max(ParentOrder.id))).first()
    working = list(session.scalars(select(ParentOrder.id).where(ParentOrder.status == "active").order_by(ParentOrder.id)))
    return digest([positions, list(orders), newest_fill, newest_parent, working])


def claim_send(ctx: ControlContext, stamp: str, key: str, actor: str) -> str | None:
    """Claim the one send of portfolio `stamp` for plan `key`: None when claimed (or already claimed by this same
    plan: a double click resends nothing, the gateway's idempotency keys see to it), else why not. A refusal is
    audited with the user."""
    now = ctx.clock.now()
    claim = CLAIM_PREFIX + stamp[:40]
    with ctx.store.write() as session:
        session.execute(delete(KeyValue).where(KeyValue.key.startswith(CLAIM_PREFIX),
                                               KeyValue.updated_at < now - CLAIM_KEEP))
        refused = STALE if portfolio_stamp(session) != stamp else None
        if refused is None:
            insert_ignoring_duplicates(session, KeyValue.__table__,
                                       [{"key": claim, "value": {"plan": key, "actor": actor}, "updated_at": now}])
            owner = get_value(session, claim) or {}
            if owner.get("plan") != key:
                refused = STALE
        if refused is not None:
            audit.record(session, now, actor, "plan.send_refused", target=key[:128],
                         details={"why": "portfolio changed since the plan was made", "stamp": stamp}, outcome="refused")
    return refused


def release_claim(ctx: ControlContext, stamp: str, key: str) -> None:
    """Give the stamp back when this plan's send placed nothing (all blocked), so it can be sent later."""
    with ctx.store.write() as session:
        claim = CLAIM_PREFIX + stamp[:40]
        if (get_value(session, claim) or {}).get("plan") == key:
            session.execute(delete(KeyValue).where(KeyValue.key == claim))


def refuse_replay(ctx: ControlContext, key: str, actor: str, made_on: str, stamp: str) -> None:
    """Audit a Send refused because its plan was made on another portfolio than the one it was sent for (a replayed
    or crafted request): such a send never takes the current portfolio's claim, which belongs to a plan made on it."""
    with ctx.store.write() as session:
        audit.record(session, ctx.clock.now(), actor, "plan.send_refused", target=key[:128], outcome="refused",
                     details={"why": "the plan was made on an earlier portfolio", "made_on": made_on, "stamp": stamp})
