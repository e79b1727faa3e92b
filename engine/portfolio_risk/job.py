"""The risk cycle's portfolio step: figures of the current book, stored; limits breached by market
moves move trading to REDUCING (audited and notified through the state change) and, when
`reduce_on_breach` is set, one order per cycle cuts the position whose cut lowers the breach most.

Resting orders that already reduce a position (a take-profit limit, an earlier cut still working) count
toward its cut, so the cut sent plus those never exceed a quarter of it (no stacking, never a flip). Broker-side
stop orders are contingent: they neither count nor block (the gateway cancels them before the cut goes out). A
cut that would not lower the worst excess is never sent: it would repeat every cycle and fix nothing.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

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
from engine.trading.orders import CONTINGENT_TYPES, OPEN_STATUSES
from engine.trading.triggers import RISK_ACTOR, tighten

log = logging.getLogger(__name__)
HISTORY_EVERY = timedelta(seconds=60)  # one history row a minute; figures and breaches every cycle
HISTORY_KEPT = timedelta(days=90)  # older history rows are deleted when a new one is stored
REDUCE_FRACTION = 0.25  # each reduction order cuts this share of the chosen position
REDUCE_ORIGIN = "risk_reduce"
# Built once: read every cycle, and building a statement cost more than running it (SQLite).
_LAST_SNAPSHOT_TS = select(RiskSnapshotRow.ts).order_by(RiskSnapshotRow.id.desc()).limit(1)
# working (non-contingent) open orders: (symbol, side, remaining); native stops only fire on a price
_WORKING = select(OrderRow.symbol, OrderRow.side, OrderRow.qty - OrderRow.filled_qty).where(
    OrderRow.status.in_(OPEN_STATUSES), OrderRow.order_type.not_in(CONTINGENT_TYPES))
EXCESS_TOLERANCE = 1e-9  # a cut must lower the worst excess by more than float noise to be sent
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
        working = _working(s.execute(_WORKING))
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
        reduced = _reduce_once(ctx, book, hist, limits, scenarios, found, working, now)
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


def _working(rows: Iterable[Any]) -> dict[str, dict[str, float]]:
    """Per symbol and side, the shares open working orders still have to fill."""
    out: dict[str, dict[str, float]] = {}
    for sym, side, rest in rows:
        by_side = out.setdefault(str(sym), {})
        by_side[str(side)] = by_side.get(str(side), 0.0) + float(rest)
    return out


def _worst(book: risk_report.Book, hist: ReturnsHistory, limits: PortfolioLimits, scenarios: list[UserScenario],
           names: list[str]) -> float:
    values = measured(_compute(book, hist, limits, scenarios), limits)
    return max(values.get(n, 0.0) / limit_of(n, limits) for n in names)


def choose_reduction(book: risk_report.Book, hist: ReturnsHistory, limits: PortfolioLimits,
                     scenarios: list[UserScenario], found: list[Breach],
                     working: dict[str, dict[str, float]] | None = None) -> tuple[str, float] | None:
    """(symbol, shares) whose cut leaves the smallest worst excess over the breached limits; None when no cut
    lowers it. Shares already on their way out in resting orders on the reducing side are taken off the cut."""
    names = [b.limit for b in found]
    before = _worst(book, hist, limits, scenarios, names)
    best: tuple[float, float, str, float] | None = None
    for i, sym in enumerate(book.symbols):
        qty = float(book.qty[i])
        if qty == 0:
            continue
        pending = (working or {}).get(sym, {}).get(OrderSide.SELL.value if qty > 0 else OrderSide.BUY.value, 0.0)
        shares = _cut(qty) - pending  # _cut(qty) <= |qty|: the cut and the resting exits never flip the position
        if shares <= 0:
            continue  # already being reduced by a quarter or more
        after = book.with_order(sym, -math.copysign(shares, qty), float(book.price[i]))
        key = (_worst(after, hist, limits, scenarios, names), -abs(float(book.values[i])), sym, shares)
        if best is None or key < best:
            best = key
    if best is None or best[0] >= before - EXCESS_TOLERANCE:
        log.warning("portfolio breach: no reduction sent; no position's cut lowers the worst excess (%.4f of the "
                    "limit) beyond what resting orders already do", before)
        return None
    return best[2], best[3]


def _reduce_once(ctx: EngineContext, book: risk_report.Book, hist: ReturnsHistory, limits: PortfolioLimits,
                 scenarios: list[UserScenario], found: list[Breach], working: dict[str, dict[str, float]],
                 now: datetime) -> str | None:
    choice = choose_reduction(book, hist, limits, scenarios, found, working)
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
