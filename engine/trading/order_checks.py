"""What the sync's read of the broker's recent history cannot see, checked order by order and in bounded numbers.

Two gaps (Alpaca): an order submitted before the history window (a GTC order resting for weeks) that the broker
closed without an event we saw stays open in the store; and a fill whose FILL activity was posted after the sync's
overlap had passed is never read. Each sync looks up by client order id the stored open orders the broker no
longer lists as open, and re-reads the fills of orders whose filled quantity exceeds their recorded fills. Both are
capped per sync and rotate oldest-checked first (engine_kv), so a large book does not spend the key's rate limit.
A stored order the broker keeps answering "not found" for is closed after a few such answers (order_gone.py).
The same write stores the account's flags for the gateway's checks (account_flags.py) and re-estimates the open
shares of notional orders (notional.py): both from reads the sync made anyway.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol, runtime_checkable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.lease import check_fence
from engine.market.market_clock import market_clock_of
from engine.protocols import ControlContext
from engine.store.models import FillRow, KeyValue, OrderRow
from engine.trading.account_flags import ACCOUNT_FLAGS_KEY, AccountFlags
from engine.trading.brokers.base import BrokerAccount, BrokerError, BrokerFill, BrokerOrder, OrderStatus
from engine.trading.notional import apply_notional
from engine.trading.order_gone import record_lookups
from engine.trading.orders import apply_broker_order, record_broker_order
from engine.trading.upserts import upsert

log = logging.getLogger(__name__)
CHECKS_KEY = "sync.order_checks"  # {client order id: market time of its last check}
MAX_LOOKUPS = 5  # stored open orders missing at the broker looked up per sync
MAX_BACKFILL = 5  # orders short of fills whose fills are re-read per sync
RECHECK = timedelta(minutes=1)  # an order short of fills is re-read at most this often
SETTLE = timedelta(seconds=30)  # short of fills for less than this: the sync's own overlap still reads them
SHORT_WINDOW = timedelta(days=1)  # only orders updated this recently are checked for missing fills
MARGIN = timedelta(minutes=1)  # read fills from a little before the order's recorded creation (clocks differ)
_WORKING = (OrderStatus.NEW.value, OrderStatus.PARTIALLY_FILLED.value)  # pending_new: the sync's pending lookups


@runtime_checkable
class BackfillsFills(Protocol):
    """A broker that can re-read the fills of given orders over a wider window (Alpaca)."""

    def fills_of_orders(self, orders: dict[str, str], since: datetime) -> list[BrokerFill]:
        """Fills since ``since`` of the orders ``{broker order id: client order id}``."""
        ...


@dataclass
class OrderChecks:
    lookups: dict[str, BrokerOrder] = field(default_factory=dict)  # client order id -> the broker's view
    fills: list[BrokerFill] = field(default_factory=list)
    checked: dict[str, str] = field(default_factory=dict)  # the next CHECKS_KEY value
    active: bool = True  # False: a broker whose history read has neither gap (the paper broker): nothing stored
    not_found: list[str] = field(default_factory=list)  # looked up and answered "not found" (404)
    seen: list[BrokerOrder] = field(default_factory=list)  # the orders the sync read (for notional ones)
    account: BrokerAccount | None = None  # the account the sync read (its flags are stored)
    wall: datetime | None = None  # the wall clock at the reads (audit rows)
    broker: str = ""  # the broker's name


def _last_checks(s: Session) -> dict[str, str]:
    row = s.get(KeyValue, CHECKS_KEY)
    return dict(row.value) if row is not None and isinstance(row.value, dict) else {}


def _oldest_checked(coids: list[str], last: dict[str, str], limit: int) -> list[str]:
    """Never-checked first, then the longest ago; ties in the given order (the oldest orders first)."""
    return sorted(coids, key=lambda c: last.get(c, ""))[:limit]


def _missing(s: Session, open_at_broker: set[str], covered: set[str]) -> list[str]:
    """Stored working orders the broker neither lists as open nor reported in this read, oldest first."""
    rows = s.execute(select(OrderRow.client_order_id).where(OrderRow.status.in_(_WORKING)).order_by(OrderRow.created_at))
    return [c for (c,) in rows if c not in open_at_broker and c not in covered]


def _look_up(ctx: ControlContext, coids: list[str], not_found: list[str] | None = None) -> dict[str, BrokerOrder]:
    """The broker's view of each order; the ones it answered "not found" for are added to `not_found`."""
    found: dict[str, BrokerOrder] = {}
    for coid in coids:
        try:
            order = ctx.broker.get_order_by_client_id(coid)
        except BrokerError as exc:
            log.warning("could not look up order %s missing from the broker's open orders: %s", coid, exc)
            continue
        if order is None:
            log.warning("order %s is open in the store but unknown to %s", coid, ctx.broker.name)
            if not_found is not None:
                not_found.append(coid)
        else:
            found[coid] = order
    return found


def _short_of_fills(s: Session, now: datetime) -> list[tuple[str, str, datetime]]:
    """(client id, broker id, created) of recently updated orders whose filled quantity exceeds their fills."""
    recorded = func.coalesce(select(func.sum(FillRow.qty)).where(FillRow.client_order_id == OrderRow.client_order_id)
                             .scalar_subquery(), Decimal(0))
    query = select(OrderRow.client_order_id, OrderRow.broker_order_id, OrderRow.created_at).where(
        OrderRow.filled_qty > 0, OrderRow.broker_order_id.is_not(None), OrderRow.updated_at >= now - SHORT_WINDOW,
        OrderRow.updated_at < now - SETTLE, OrderRow.filled_qty > recorded).order_by(OrderRow.created_at)
    return [(c, str(b), t) for c, b, t in s.execute(query)]


def _backfill(ctx: ControlContext, short: list[tuple[str, str, datetime]]) -> list[BrokerFill]:
    if not short or not isinstance(ctx.broker, BackfillsFills):
        return []
    since = min(t for _, _, t in short) - MARGIN
    try:
        return ctx.broker.fills_of_orders({b: c for c, b, _ in short}, since)
    except BrokerError as exc:
        log.warning("could not re-read the fills of %d order(s) short of fills: %s", len(short), exc)
        return []


def check_orders(ctx: ControlContext, covered: list[BrokerOrder], now: datetime) -> OrderChecks:
    """Broker reads for the two gaps (before the sync's write); `now` is the market time rows carry.

    Only for a broker whose history read has them (BackfillsFills: Alpaca); the paper broker reports every change
    since the last sync from its own tables, and a backtest must not pay a lookup and a write per bar for nothing."""
    if not isinstance(ctx.broker, BackfillsFills):
        return OrderChecks(active=False)
    seen = {o.client_order_id for o in covered}
    with ctx.store.read() as s:
        last = _last_checks(s)
        working = [c for (c,) in s.execute(select(OrderRow.client_order_id).where(OrderRow.status.in_(_WORKING)))
                   if c not in seen]
        short = _short_of_fills(s, now)
    account = getattr(ctx.broker, "last_account", None)  # what the sync's own read just returned (Alpaca)
    out = OrderChecks(seen=list(covered), account=account if isinstance(account, BrokerAccount) else None,
                      wall=ctx.clock.now(), broker=ctx.broker.name)
    if working:
        try:
            open_at_broker = {o.client_order_id for o in ctx.broker.list_open_orders()}
        except BrokerError as exc:
            log.warning("could not list the broker's open orders to check the store's: %s", exc)
            open_at_broker = set(working)
        with ctx.store.read() as s:
            missing = _missing(s, open_at_broker, seen)
        picked = _oldest_checked(missing, last, MAX_LOOKUPS)
        out.lookups = _look_up(ctx, picked, out.not_found)
        out.checked.update({c: now.isoformat() for c in picked})
        out.checked.update({c: last[c] for c in missing if c in last and c not in out.checked})
    cutoff = (now - RECHECK).isoformat()
    picked_short = set(_oldest_checked([c for c, _, _ in short if last.get(c, "") <= cutoff], last, MAX_BACKFILL))
    due = [o for o in short if o[0] in picked_short]
    out.fills = _backfill(ctx, due)
    out.checked.update({c: now.isoformat() for c, _, _ in due})
    out.checked.update({c: last[c] for c, _, _ in short if c in last and c not in out.checked})
    return out


def apply_checks(s: Session, checks: OrderChecks, now: datetime) -> int:
    """Apply the looked-up orders (in the sync's write) and keep the check times; returns the rows changed."""
    if not checks.active:
        return 0
    changed = 0
    if checks.lookups:
        rows = s.scalars(select(OrderRow).where(OrderRow.client_order_id.in_(list(checks.lookups))))
        changed = sum(1 for r in rows if apply_broker_order(r, checks.lookups[r.client_order_id], now))
    kv = [{"key": CHECKS_KEY, "value": checks.checked, "updated_at": now}]
    if checks.account is not None:
        kv.append({"key": ACCOUNT_FLAGS_KEY, "value": AccountFlags.of(checks.account, now.isoformat(), checks.broker).to_json(),
                   "updated_at": now})
    upsert(s, KeyValue.__table__, kv, key=("key",))
    changed += record_lookups(s, checks.not_found, list(checks.lookups), now, checks.wall or now)
    changed += apply_notional(s, checks.seen + list(checks.lookups.values()), now)
    return changed


def resolve_missing(ctx: ControlContext, open_at_broker: list[BrokerOrder]) -> int:
    """Reconciliation's check before it reports order_missing_at_broker: look up (bounded) the stored working
    orders absent from the broker's open orders it just read and apply what the broker says."""
    with ctx.store.read() as s:
        missing = _missing(s, {o.client_order_id for o in open_at_broker}, set())
        picked = _oldest_checked(missing, _last_checks(s), MAX_LOOKUPS)
    not_found: list[str] = []
    found = _look_up(ctx, picked, not_found)
    applied = sum(1 for order in found.values() if record_broker_order(ctx, order))
    if not_found or found:  # its 404s count as strikes too (order_gone.py)
        with ctx.store.write() as s:
            check_fence(s, ctx)  # fenced: an engine writes only under the lease it holds (engine/lease.py)
            applied += record_lookups(s, not_found, list(found), market_clock_of(ctx).now(), ctx.clock.now())
    return applied


def short_of_fills_since(s: Session, since: datetime) -> int:
    """How many orders updated at or after ``since`` (market time) have more filled than their recorded fills."""
    recorded = func.coalesce(select(func.sum(FillRow.qty)).where(FillRow.client_order_id == OrderRow.client_order_id)
                             .scalar_subquery(), Decimal(0))
    return int(s.scalar(select(func.count()).select_from(OrderRow).where(
        OrderRow.updated_at >= since, OrderRow.filled_qty > recorded)) or 0)
