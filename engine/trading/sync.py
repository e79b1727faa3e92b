"""Bring the store up to the broker's truth: account, positions, order statuses, fills.

Called by the engine's "account" job every few seconds. Broker calls happen first, outside any
transaction; then one write transaction applies everything, moves the equity peak and the
start-of-day equity, and fires the equity triggers. Idempotent: running it twice changes nothing.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session

from engine.lease import check_fence
from engine.market.exchange import calendar_for_settings
from engine.market.market_clock import market_clock_of
from engine.protocols import ControlContext
from engine.store.models import AccountSnapshot, FillRow, KeyValue, OrderRow, PositionRow
from engine.trading.brokers.base import (
    Broker,
    BrokerAccount,
    BrokerCashFlow,
    BrokerError,
    BrokerFill,
    BrokerOrder,
    BrokerPosition,
    OrderStatus,
    ReadsBooksAtOnce,
    cash_flows_of,
)
from engine.trading.cash_flows import read_since, record_flows, roll_adjustment
from engine.trading.equity import update_marks
from engine.trading.order_checks import apply_checks, check_orders
from engine.trading.orders import NEVER_RECEIVED, apply_broker_order
from engine.trading.risk_limits import RiskLimits, active_limits_in
from engine.trading.triggers import equity_breaches, tighten, would_tighten
from engine.trading.upserts import insert_ignoring, table_of, upsert

log = logging.getLogger(__name__)
LAST_SYNC_KEY = "sync.last_at"
OVERLAP = timedelta(seconds=30)  # re-read a little history: clocks differ, and applying twice is harmless
PENDING_GRACE = timedelta(seconds=30)  # a pending_new order the broker still does not know after this was never sent
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class SyncReport:
    equity: Decimal
    cash: Decimal
    positions: int
    orders_updated: int = 0
    orders_imported: int = 0  # orders found at the broker that the gateway never recorded (e.g. broker-side close-all)
    fills_added: int = 0
    pending_resolved: int = 0
    cash_flows: int = 0  # deposits / withdrawals first recorded by this sync (engine/trading/cash_flows.py)
    triggers: list[str] = field(default_factory=list)
    unconfirmed: list[str] = field(default_factory=list)  # breaches a second read is to confirm (sync_from_broker)


def fill_key(fill: BrokerFill) -> str:
    if fill.fill_id:
        return fill.fill_id[:96]
    return f"{fill.broker_order_id}:{fill.ts.isoformat()}:{fill.qty}"[:96]


_KV_ROW = select(KeyValue).where(KeyValue.key == bindparam("key"))  # built once: read every sync


def _since(session: Session, started: datetime, overlap: timedelta = OVERLAP) -> datetime:
    """Where this sync starts reading the broker's history: the last sync's start less the overlap, both in
    market time. A mark later than now (a store whose syncs ran on the wall clock before the market clock
    carried the simulated market's time) is not trusted: the read starts from now less the overlap."""
    row = session.scalars(_KV_ROW, {"key": LAST_SYNC_KEY}).first()  # session.get builds its statement per call
    if row is None:
        return EPOCH
    last = datetime.fromisoformat(row.value["ts"])
    if last.tzinfo is None:
        last = last.replace(tzinfo=UTC)
    return min(last, started) - overlap


def _import(order: BrokerOrder, now: datetime) -> OrderRow:
    return OrderRow(
        client_order_id=order.client_order_id, broker_order_id=order.broker_order_id, symbol=order.symbol,
        side=order.side.value, qty=order.qty, order_type=order.order_type.value, limit_price=order.limit_price,
        status=order.status.value, filled_qty=order.filled_qty, filled_avg_price=order.filled_avg_price,
        reject_reason=f"broker: {order.reject_reason}" if order.reject_reason else None, origin="external",
        actor="broker", param_version_id=None, created_at=order.submitted_at, updated_at=now,
    )


# Built once: sync runs every cycle and building a statement cost more than running it (SQLite); the
# varying values are expanding bound parameters.
_PENDING = select(OrderRow.client_order_id).where(OrderRow.status == OrderStatus.PENDING_NEW.value)
_ORDERS_OF = select(OrderRow).where(OrderRow.client_order_id.in_(bindparam("coids", expanding=True)))
_KNOWN_FILLS = select(FillRow.fill_key).where(FillRow.fill_key.in_(bindparam("keys", expanding=True)))
# On the table, not the mapped class: an ORM-enabled DELETE synchronizes the session's PositionRow objects (sync
# loads none) and costs more than the statement; the rows deleted are the same.
_POSITIONS = table_of(PositionRow.__table__)
_DROP_POSITIONS = delete(_POSITIONS).where(_POSITIONS.c.symbol.not_in(bindparam("keep", expanding=True)))


def _pending_lookups(ctx: ControlContext, known: set[str]) -> dict[str, BrokerOrder | None]:
    """Ask the broker about each pending_new order the order list did not cover (None = unknown there)."""
    with ctx.store.read() as s:
        pending = list(s.scalars(_PENDING))
    found: dict[str, BrokerOrder | None] = {}
    for coid in pending:
        if coid in known:
            continue
        try:
            found[coid] = ctx.broker.get_order_by_client_id(coid)
        except BrokerError as exc:
            log.warning("could not look up pending order %s: %s", coid, exc)
    return found


def sync_from_broker(ctx: ControlContext, limits: RiskLimits | None = None) -> SyncReport:
    """Account snapshots, positions, order updates and the equity marks carry the market clock's time (the
    broker's books do too); the triggers' state changes and the pending grace the wall clock's.

    On a broker that lists deposits and withdrawals, a daily-loss or drawdown breach that would tighten the
    trading state is confirmed by a second sync before it fires: a withdrawal processed between this sync's
    read of the cash activities and its read of the account shows in the equity but not yet in the list, and
    read as a loss it halted trading (10,000 of 100,000: a 10% "loss"). The second read lists it; a real loss
    still fires, one sync (a few broker calls) later."""
    report = _sync_once(ctx, limits, confirm=True)
    if report.unconfirmed:
        log.info("equity breach to confirm with a second read of the account and its cash flows: %s",
                 "; ".join(report.unconfirmed))
        report = _sync_once(ctx, limits, confirm=False)
    return report


def _sync_once(ctx: ControlContext, limits: RiskLimits | None, confirm: bool) -> SyncReport:
    """One read of the broker's books applied in one transaction; `confirm`: a breach waits for a second read
    (sync_from_broker) instead of firing, when the broker lists cash flows."""
    market = market_clock_of(ctx)
    started = market.now()
    with ctx.store.read() as s:
        since = _since(s, started, market.span(OVERLAP))
        read_before, flows_from = read_since(s, started)
        limits = limits or active_limits_in(s)  # last in this read: a failed read leaves nothing else to run in it
    flows = _cash_flows(ctx.broker, flows_from)  # before the account: the equity read then includes them
    account, positions, orders, fills = _books_since(ctx.broker, since)
    lookups = _pending_lookups(ctx, {o.client_order_id for o in orders})
    checks = check_orders(ctx, orders, market.now())  # what the history read cannot see (engine/trading/order_checks.py)
    now, wall = market.now(), ctx.clock.now()
    with ctx.store.write() as s:
        check_fence(s, ctx)  # fenced: an engine writes only under the lease it holds (engine/lease.py)
        gross = sum((abs(p.qty) * (p.market_price or p.avg_entry_price) for p in positions), Decimal(0))
        snapshot = AccountSnapshot(ts=now, broker=ctx.broker.name, cash=account.cash, equity=account.equity,
                                   buying_power=account.buying_power, gross_exposure=gross)
        s.add(snapshot)
        _store_positions(s, positions, now)
        report = SyncReport(equity=account.equity, cash=account.cash, positions=len(positions))
        _apply_orders(s, orders, lookups, now, report, wall=wall, to_wall=market.to_wall)
        report.orders_updated += apply_checks(s, checks, now)
        _apply_fills(s, fills + checks.fills, report)
        calendar = calendar_for_settings(getattr(ctx, "settings", None), limits.market_timezone)
        if flows is not None:  # a broker with cash flows: shift the marks by new ones before moving them
            s.flush()  # the snapshot's id: the first snapshot that includes a new flow
            report.cash_flows = len(record_flows(s, ctx.broker.name, flows, snapshot, now, first_read=not read_before,
                                                   since=flows_from))
        marks = update_marks(s, now, account.equity, calendar, prior_close=account.last_equity,
                             flows_since_close=roll_adjustment(s, now, calendar) if flows is not None else None)
        breaches = equity_breaches(account.equity, marks.start_of_day, marks.peak, limits)
        if breaches and confirm and flows is not None and would_tighten(s, breaches):
            report.unconfirmed = [reason for _, reason in breaches]
        else:
            report.triggers = [reason for to, reason in breaches if tighten(s, wall, to, reason)]
        upsert(s, KeyValue.__table__, [{"key": LAST_SYNC_KEY, "value": {"ts": started.isoformat()},
                                        "updated_at": now}], key=("key",))
    return report


def _cash_flows(broker: Broker, since: datetime | None) -> list[BrokerCashFlow] | None:
    """The broker's deposits and withdrawals since `since`; None for a broker without them, or when the read failed
    (logged; the next sync reads them again: the cursor only moves with what was read)."""
    try:
        return cash_flows_of(broker, since)
    except BrokerError as exc:
        log.warning("could not read the account's deposits and withdrawals: %s", exc)
        return None


def _books_since(broker: Broker, since: datetime) -> tuple[BrokerAccount, list[BrokerPosition], list[BrokerOrder],
                                                          list[BrokerFill]]:
    """The broker's account, positions, and orders and fills since `since`: in one call from a broker that reads
    its books at once (the paper broker), else in four."""
    if isinstance(broker, ReadsBooksAtOnce):
        return broker.books_since(since)
    return broker.get_account(), broker.get_positions(), broker.list_orders_since(since), broker.fills_since(since)


def _store_positions(s: Session, positions: list, now: datetime) -> None:
    """Replace the stored positions with the broker's: an upsert per symbol (in symbol order, so two
    writers lock rows in the same order), then delete the symbols the broker no longer holds.

    Delete-all-then-insert raced on PostgreSQL: the account and reconcile jobs both inserted the same
    symbol and one failed with a unique violation on positions_pkey.
    """
    rows = []
    for p in sorted(positions, key=lambda p: p.symbol):
        pnl = (p.market_price - p.avg_entry_price) * p.qty if p.market_price is not None else None
        rows.append({"symbol": p.symbol, "qty": p.qty, "avg_entry_price": p.avg_entry_price,
                     "market_price": p.market_price, "unrealized_pnl": pnl, "updated_at": now})
    upsert(s, PositionRow.__table__, rows, key=("symbol",))
    s.execute(_DROP_POSITIONS, {"keep": [r["symbol"] for r in rows]})


def _apply_orders(s: Session, orders: list[BrokerOrder], lookups: dict[str, BrokerOrder | None], now: datetime,
                  report: SyncReport, *, wall: datetime | None = None,
                  to_wall: Callable[[datetime], datetime] | None = None) -> None:
    """`now`: the market time updates carry; the pending grace is wall-clock seconds since the order was
    recorded (`to_wall` maps its market-time created_at to the wall clock)."""
    wall = wall or now
    coids = [o.client_order_id for o in orders] + list(lookups)
    rows = {r.client_order_id: r for r in s.scalars(_ORDERS_OF, {"coids": coids})} if coids else {}
    for order in orders:
        row = rows.get(order.client_order_id)
        if row is None:
            s.add(_import(order, now))
            report.orders_imported += 1
        elif apply_broker_order(row, order, now):
            report.orders_updated += 1
    for coid, looked_up in lookups.items():
        row = rows.get(coid)
        if row is None or row.status != OrderStatus.PENDING_NEW.value:
            continue
        if looked_up is not None:
            apply_broker_order(row, looked_up, now)
            report.pending_resolved += 1
        elif wall - (to_wall(row.created_at) if to_wall else row.created_at) > PENDING_GRACE:
            row.status, row.updated_at = OrderStatus.REJECTED.value, now
            row.reject_reason = f"{NEVER_RECEIVED} (the engine stopped or the broker was down before it was sent)"
            report.pending_resolved += 1


def _apply_fills(s: Session, fills: list[BrokerFill], report: SyncReport) -> None:
    if not fills:
        return
    keys = {fill_key(f): f for f in fills}
    seen = set(s.scalars(_KNOWN_FILLS, {"keys": list(keys)}))
    new = [{"fill_key": key, "client_order_id": f.client_order_id, "symbol": f.symbol, "side": f.side.value,
            "qty": f.qty, "price": f.price, "commission": f.commission, "ts": f.ts}
           for key, f in sorted(keys.items()) if key not in seen]
    insert_ignoring(s, FillRow.__table__, new)  # another writer may store the same fill meanwhile
    report.fills_added += len(new)
