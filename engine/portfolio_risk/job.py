"""The risk cycle's portfolio step: figures of the current book, stored; limits breached by market
moves move trading to REDUCING (audited and notified through the state change) and, when
`reduce_on_breach` is set, one order per cycle cuts the position whose cut lowers the breach most.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import bindparam, delete, select

from engine.context import EngineContext
from engine.lease import check_fence
from engine.params.versions import active_params
from engine.portfolio_risk import report as risk_report
from engine.portfolio_risk.book import history, read_book
from engine.portfolio_risk.limits import Breach, PortfolioLimits, breaches, limit_of, measured
from engine.portfolio_risk.returns import ReturnsHistory
from engine.portfolio_risk.store_io import save_report, save_snapshot, user_scenarios
from engine.portfolio_risk.stress import UserScenario
from engine.store.models import OrderRow, RiskSnapshotRow
from engine.trading import state as trading_state
from engine.trading.brokers.base import OrderSide
from engine.trading.gateway import OrderIntent, submit
from engine.trading.orders import OPEN_STATUSES
from engine.trading.triggers import RISK_ACTOR, tighten

log = logging.getLogger(__name__)
HISTORY_EVERY = timedelta(seconds=60)  # one history row a minute; figures and breaches every cycle
HISTORY_KEPT = timedelta(days=90)  # older history rows are deleted when a new one is stored
REDUCE_FRACTION = 0.25  # each reduction order cuts this share of the chosen position
REDUCE_ORIGIN = "risk_reduce"
# Built once: read every cycle, and building a statement cost more than running it (SQLite).
_LAST_SNAPSHOT_TS = select(RiskSnapshotRow.ts).order_by(RiskSnapshotRow.id.desc()).limit(1)
_BUSY = select(OrderRow.symbol).where(OrderRow.status.in_(OPEN_STATUSES))
_PRUNE_HISTORY = delete(RiskSnapshotRow).where(RiskSnapshotRow.ts < bindparam("before"))


@dataclass(frozen=True)
class CycleResult:
    report: risk_report.RiskReport
    breaches: list[Breach]
    reduced: str | None = None  # the symbol a reduction order was sent for


def run(ctx: EngineContext) -> CycleResult:
    """Compute, store, trigger; never raises for a breach (it acts on it)."""
    now = ctx.clock.now()
    with ctx.store.read() as s:
        limits = PortfolioLimits.from_params(active_params(s))
        book = read_book(s)
        hist = history(s, book.symbols, limits.risk_lookback_bars, bars=ctx.bars)
        scenarios = user_scenarios(s)
        last_ts = s.scalar(_LAST_SNAPSHOT_TS)
        busy = set(s.scalars(_BUSY))
    report = _compute(book, hist, limits, scenarios)
    found = breaches(report, limits)
    with ctx.store.write() as s:
        check_fence(s, ctx)  # fenced: an engine writes only under the lease it holds (engine/lease.py)
        save_report(s, now, report, found)
        if last_ts is None or now - last_ts >= HISTORY_EVERY or found:
            save_snapshot(s, now, report, found)
            s.execute(_PRUNE_HISTORY, {"before": now - HISTORY_KEPT})
        if found:
            reason = "portfolio limit breached by market moves: " + "; ".join(b.reason.replace(" would be", " is")
                                                                             for b in found)
            trading_state.ensure_state(s, now)
            tighten(s, now, trading_state.TradingState.REDUCING, reason[:500], RISK_ACTOR)
    reduced = None
    if found and limits.reduce_on_breach:
        reduced = _reduce_once(ctx, book, hist, limits, scenarios, found, busy, now)
    return CycleResult(report, found, reduced)


def _compute(book: risk_report.Book, hist: ReturnsHistory, limits: PortfolioLimits,
             scenarios: list[UserScenario]) -> risk_report.RiskReport:
    return risk_report.compute(book, hist, limits.groups, cluster_threshold=limits.cluster_correlation_threshold,
                               user_scenarios=scenarios)


def _cut(qty: float) -> float:
    """Shares to sell (buy back) from a position of `qty`: a quarter, whole shares, at least one."""
    size = abs(qty)
    if size <= 1:
        return size
    return float(min(size, max(1, math.ceil(size * REDUCE_FRACTION))))


def choose_reduction(book: risk_report.Book, hist: ReturnsHistory, limits: PortfolioLimits,
                     scenarios: list[UserScenario], found: list[Breach], skip: set[str]) -> tuple[str, float] | None:
    """(symbol, shares) whose cut leaves the smallest worst excess over the breached limits."""
    names = [b.limit for b in found]
    best: tuple[float, float, str, float] | None = None
    for i, sym in enumerate(book.symbols):
        if sym in skip or book.qty[i] == 0:
            continue
        shares = _cut(float(book.qty[i]))
        after = book.with_order(sym, -math.copysign(shares, float(book.qty[i])), float(book.price[i]))
        values = measured(_compute(after, hist, limits, scenarios), limits)
        worst = max(values.get(n, 0.0) / limit_of(n, limits) for n in names)
        key = (worst, -abs(float(book.values[i])), sym, shares)
        if best is None or key < best:
            best = key
    return None if best is None else (best[2], best[3])


def _reduce_once(ctx: EngineContext, book: risk_report.Book, hist: ReturnsHistory, limits: PortfolioLimits,
                 scenarios: list[UserScenario], found: list[Breach], busy: set[str], now: datetime) -> str | None:
    choice = choose_reduction(book, hist, limits, scenarios, found, busy)
    if choice is None:
        return None
    sym, shares = choice
    qty = float(book.qty[book.symbols.index(sym)])
    side = OrderSide.SELL if qty > 0 else OrderSide.BUY
    intent = OrderIntent(sym, side, Decimal(str(shares)), reason=f"reduce on breach: {found[0].reason}",
                         idempotency_key=f"risk-reduce:{now.isoformat()}")
    result = submit(ctx, intent, actor=RISK_ACTOR, origin=REDUCE_ORIGIN)
    log.warning("portfolio breach: reduction %s %s %s -> %s %s", side, shares, sym, result.status,
                result.reason or "")
    return sym if result.accepted else None
