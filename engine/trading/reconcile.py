"""Reconciliation: broker truth against the engine's own books, at start-up and periodically.

The engine's book is a baseline (broker truth adopted at the last clean run, in engine_kv) plus
every fill recorded since. Positions and cash from that book are compared with the broker's, as
are open orders. A difference can be a timing race with a fill, so a dirty comparison is
re-synced and repeated once; what persists is stored (reconciliation_runs) and, when its value
exceeds the tolerance, moves trading to REDUCING (system:reconcile).
"""
from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import audit
from engine.clock import SystemClock
from engine.context import EngineContext
from engine.lease import check_fence
from engine.market.market_clock import MarketClock, WallMarketClock, market_clock_of
from engine.store.models import FillRow, KeyValue, OrderRow, ReconciliationRun
from engine.trading.brokers.base import BrokerAccount, BrokerError, BrokerOrder, BrokerPosition, OrderSide
from engine.trading.marks import latest_closes
from engine.trading.order_checks import resolve_missing, short_of_fills_since
from engine.trading.orders import OPEN_STATUSES
from engine.trading.risk_limits import RiskLimits, active_limits
from engine.trading.state import TradingState
from engine.trading.sync import PENDING_GRACE, sync_from_broker
from engine.trading.triggers import tighten

log = logging.getLogger(__name__)
BASELINE_KEY = "reconcile.baseline"
ACTOR = "system:reconcile"
ZERO = Decimal(0)
SETTLE_ATTEMPTS = 3  # reads of the broker a new baseline may take before fills stop arriving across one
RECENT = timedelta(minutes=5)  # an order updated this recently and short of fills may have a FILL activity on its way


@dataclass(frozen=True, slots=True)
class Difference:
    kind: str  # position | cash | order_missing_at_broker | order_unknown_to_store | order_unresolved | unsettled
    key: str  # symbol, "cash" or client order id
    store: str
    broker: str
    value: Decimal  # USD size of the difference
    note: str = ""


@dataclass
class ReconciliationReport:
    ts: datetime
    ok: bool
    differences: list[Difference] = field(default_factory=list)
    total_value: Decimal = ZERO
    triggered: bool = False
    baseline_adopted: bool = False

    def summary(self) -> str:
        if self.ok:
            return "store and broker agree"
        kinds = ", ".join(sorted({d.kind for d in self.differences}))
        return f"{len(self.differences)} difference(s) worth {self.total_value:.2f} USD ({kinds})"


@dataclass(frozen=True, slots=True)
class _Broker:
    account: BrokerAccount
    positions: list[BrokerPosition]
    open_orders: list[BrokerOrder]


def _broker_view(ctx: EngineContext) -> _Broker:
    return _Broker(ctx.broker.get_account(), ctx.broker.get_positions(), ctx.broker.list_open_orders())


def _baseline(session: Session) -> dict | None:
    row = session.get(KeyValue, BASELINE_KEY)
    return row.value if row is not None else None


def _max_fill(session: Session) -> int:
    return int(session.scalar(select(func.max(FillRow.id))) or 0)


def _settled_view(ctx: EngineContext, limits: RiskLimits, retry_delay_s: float) -> tuple[_Broker, int] | None:
    """The broker's books and the fill watermark they agree with, or None when fills kept arriving.

    The baseline is the broker's positions and cash plus our fills after a watermark, so the watermark must split
    our fills exactly where the broker's read did. Syncing before and after the read and taking the read only when
    the second sync recorded no new fill (and no recently updated order waits for a FILL activity) is right
    whichever side of the read a fill lands on. Broker timestamps were not used: they would have to be compared
    with our clock, which differs from Alpaca's (and is a manual clock in tests)."""
    for attempt in range(SETTLE_ATTEMPTS):
        sync_from_broker(ctx, limits)
        started = market_clock_of(ctx).now()
        with ctx.store.read() as s:
            before = _max_fill(s)
        truth = _broker_view(ctx)
        sync_from_broker(ctx, limits)
        with ctx.store.read() as s:
            if _max_fill(s) == before and not short_of_fills_since(s, started - RECENT):
                return truth, before
        if attempt + 1 < SETTLE_ATTEMPTS:
            time.sleep(retry_delay_s)
    return None


def _adopt(session: Session, now: datetime, truth: _Broker, fill_id: int) -> None:
    """Take the broker's positions and cash as the new starting point of the engine's book: `fill_id` is the last
    of our fills the broker's read already counts."""
    value = {"cash": str(truth.account.cash), "positions": {p.symbol: str(p.qty) for p in truth.positions},
             "fill_id": fill_id, "ts": now.isoformat()}
    row = session.get(KeyValue, BASELINE_KEY)
    if row is None:
        session.add(KeyValue(key=BASELINE_KEY, value=value, updated_at=now))
    else:
        row.value, row.updated_at = value, now


def _book(session: Session, base: dict) -> tuple[dict[str, Decimal], Decimal]:
    positions: dict[str, Decimal] = defaultdict(Decimal, {s: Decimal(q) for s, q in base["positions"].items()})
    cash = Decimal(base["cash"])
    for f in session.scalars(select(FillRow).where(FillRow.id > base["fill_id"])):
        signed = f.qty if f.side == OrderSide.BUY.value else -f.qty
        positions[f.symbol] += signed
        cash -= signed * f.price + f.commission
    return dict(positions), cash


def _fmt(value: Decimal) -> str:
    """100, not 100.00000000 (PostgreSQL NUMERIC keeps its scale)."""
    return format(value.normalize(), "f")


def _compare(session: Session, now: datetime, truth: _Broker, base: dict,
             market_clock: MarketClock | None = None) -> list[Difference]:
    """`now`: the wall clock; `market_clock` maps the orders' market times to it (None: they are wall-clock)."""
    market_clock = market_clock or WallMarketClock(SystemClock())
    positions, cash = _book(session, base)
    broker_pos = {p.symbol: p.qty for p in truth.positions}
    symbols = sorted(set(positions) | set(broker_pos))
    marks = latest_closes(session, symbols)
    diffs: list[Difference] = []
    for sym in symbols:
        ours, theirs = positions.get(sym, ZERO), broker_pos.get(sym, ZERO)
        if ours != theirs:
            price = marks[sym][0] if sym in marks else ZERO
            diffs.append(Difference("position", sym, _fmt(ours), _fmt(theirs), abs(ours - theirs) * price,
                                    "the broker holds a different quantity than our fills add up to"))
    if cash != truth.account.cash:
        diffs.append(Difference("cash", "cash", _fmt(cash), _fmt(truth.account.cash), abs(cash - truth.account.cash)))
    ours_open = {r.client_order_id: r for r in session.scalars(select(OrderRow).where(OrderRow.status.in_(OPEN_STATUSES)))}
    theirs_open = {o.client_order_id: o for o in truth.open_orders}
    order_marks = latest_closes(session, {r.symbol for r in ours_open.values()} | {o.symbol for o in truth.open_orders})

    def notional(symbol: str, qty: Decimal) -> Decimal:
        return qty * order_marks[symbol][0] if symbol in order_marks else ZERO

    for coid, row in ours_open.items():
        if coid in theirs_open:
            continue
        if row.status == "pending_new":  # `now` is the wall clock; created_at the market clock's time
            if now - market_clock.to_wall(row.created_at) > PENDING_GRACE:
                diffs.append(Difference("order_unresolved", coid, row.status, "unknown", notional(row.symbol, row.qty),
                                        f"{row.side} {row.qty} {row.symbol} was never confirmed by the broker"))
            continue
        diffs.append(Difference("order_missing_at_broker", coid, row.status, "not open",
                                notional(row.symbol, row.qty - row.filled_qty), f"{row.side} {row.qty} {row.symbol}"))
    for coid, o in theirs_open.items():
        if coid not in ours_open:
            diffs.append(Difference("order_unknown_to_store", coid, "absent/closed", o.status.value,
                                    notional(o.symbol, o.qty - o.filled_qty), f"{o.side} {o.qty} {o.symbol}"))
    return diffs


def reconcile(ctx: EngineContext, limits: RiskLimits | None = None, retry_delay_s: float = 0.2) -> ReconciliationReport:
    """Compare, store the run, and tighten to REDUCING when the differences exceed the tolerance."""
    limits = limits or active_limits(ctx.store)
    with ctx.store.read() as s:
        first = _baseline(s) is None
    if first:
        adopted = _adopt_settled(ctx, limits, retry_delay_s)
        return _record(ctx, [] if adopted else [_UNSETTLED], adopted, limits)
    diffs: list[Difference] = []
    for attempt in range(2):
        sync_from_broker(ctx, limits)
        truth = _broker_view(ctx)
        resolve_missing(ctx, truth.open_orders)  # an open row Alpaca does not list: ask about it before reporting it
        now = ctx.clock.now()
        with ctx.store.write() as s:
            check_fence(s, ctx)  # fenced: an engine writes only under the lease it holds (engine/lease.py)
            base = _baseline(s)
            diffs = _compare(s, now, truth, base, market_clock_of(ctx)) if base is not None else []
            if not diffs:  # clean: our fills add up to the broker's read, so every one is in it
                _adopt(s, now, truth, _max_fill(s))  # move the baseline forward so the book stays short
                break
        if attempt == 0:
            time.sleep(retry_delay_s)  # a fill may have landed between our reads: look again once
    return _record(ctx, diffs, False, limits)


_UNSETTLED = Difference("unsettled", "baseline", "none", "moving", ZERO,
                        "fills kept arriving while the broker was read; a later run adopts the starting book")


def _adopt_settled(ctx: EngineContext, limits: RiskLimits, retry_delay_s: float) -> bool:
    settled = _settled_view(ctx, limits, retry_delay_s)
    if settled is None:
        return False
    truth, fill_id = settled
    with ctx.store.write() as s:
        check_fence(s, ctx)  # fenced: an engine writes only under the lease it holds (engine/lease.py)
        _adopt(s, ctx.clock.now(), truth, fill_id)
    return True


def _record(ctx: EngineContext, diffs: list[Difference], adopted: bool, limits: RiskLimits) -> ReconciliationReport:
    now = ctx.clock.now()
    total = sum((d.value for d in diffs), ZERO)
    report = ReconciliationReport(ts=now, ok=not diffs, differences=diffs, total_value=total, baseline_adopted=adopted)
    with ctx.store.write() as s:
        check_fence(s, ctx)  # fenced: an engine writes only under the lease it holds (engine/lease.py)
        s.add(ReconciliationRun(ts=now, ok=report.ok, differences=[
            {**asdict(d), "value": str(d.value)} for d in diffs
        ]))
        if diffs and total > limits.reconciliation_tolerance:
            reason = f"reconciliation: {report.summary()}, above the tolerance {limits.reconciliation_tolerance} USD"
            report.triggered = tighten(s, now, TradingState.REDUCING, reason, ACTOR)
        if diffs:
            audit.record(s, now, ACTOR, "reconcile.differences", target="broker", outcome="differences",
                         details={"summary": report.summary(), "triggered": report.triggered})
    if diffs:
        log.warning("reconciliation: %s", report.summary())
    return report


def accept_broker_truth(ctx: EngineContext, actor: str, reason: str) -> None:
    """An operator's decision: the broker is right; restart the engine's book from its positions and cash."""
    settled = _settled_view(ctx, active_limits(ctx.store), 0.2)
    if settled is None:
        raise BrokerError("fills kept arriving while the broker was read; accept the broker's view again in a moment")
    truth, fill_id = settled
    now = ctx.clock.now()
    with ctx.store.write() as s:
        _adopt(s, now, truth, fill_id)
        audit.record(s, now, actor, "reconcile.accept_broker", target="broker", details={"reason": reason})


def last_run(session: Session) -> ReconciliationRun | None:
    return session.scalars(select(ReconciliationRun).order_by(ReconciliationRun.id.desc()).limit(1)).first()



def recent_runs(session: Session, limit: int = 20) -> list[ReconciliationRun]:
    """The newest runs first, for the Trading page."""
    return list(session.scalars(select(ReconciliationRun).order_by(ReconciliationRun.id.desc()).limit(limit)))
