"""The gateway's portfolio check: would this order leave the book above a portfolio limit?

Called inside the gateway's order transaction after the per-order checks passed, with the facts
it gathered and the limits of the parameter version its per-order checks used (one read:
engine/trading/order_limits.py); the book includes our open orders at their worst case (resting orders that add
to a position count as filled, resting exits do not: they may never fill).
"""
from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from engine.portfolio_risk import report as risk_report
from engine.portfolio_risk.book import history, read_book
from engine.portfolio_risk.limits import PortfolioLimits, breaches, order_breach
from engine.portfolio_risk.store_io import user_scenarios
from engine.protocols import BarHistory
from engine.trading.order_limits import active_version_limits
from engine.trading.risk import OrderFacts, RiskRejection

log = logging.getLogger(__name__)


def limits_for(session: Session) -> PortfolioLimits:
    """The active parameter version's portfolio limits, parsed once per (database, version, content)."""
    return active_version_limits(session)[2]


def check_order(session: Session, f: OrderFacts, limits: PortfolioLimits | None = None,
                bars: BarHistory | None = None) -> RiskRejection | None:
    """A RiskRejection naming the portfolio limit the order would breach (and worsen), else None.
    `limits`: the gateway's, read with its per-order limits; None reads the active version's.
    `bars`: a backtest's bars in memory, read instead of the store's (the same rows)."""
    if f.reduces or f.equity is None or f.equity <= 0:
        return None  # reductions are always allowed; no equity: the gross-exposure check already refused
    price = f.ref_price
    if price is None:
        return None
    limits = limits or limits_for(session)
    if not limits.active:
        return None
    before = read_book(session, with_open_orders=True, equity=float(f.equity))  # each symbol at its worst case
    held = float(before.qty[before.symbols.index(f.symbol)]) if f.symbol in before.symbols else 0.0
    # the ordered symbol at its worst case once the order fills: never netted against a resting exit
    after = before.with_order(f.symbol, float(f.worst_position(f.signed_qty)) - held, float(price))
    hist = history(session, after.symbols, limits.risk_lookback_bars, bars=bars)
    scenarios = user_scenarios(session) if limits.max_stress_loss_pct > 0 else []

    def report(book: risk_report.Book) -> risk_report.RiskReport:
        return risk_report.compute(book, hist, limits.groups, cluster_threshold=limits.cluster_correlation_threshold,
                                   user_scenarios=scenarios)

    now = report(after)
    if not breaches(now, limits):
        return None  # the usual case: the book after the order is inside every limit (no second report needed)
    breach = order_breach(report(before), now, limits)
    if breach is None:
        return None
    check = "group_limit" if breach.limit.startswith("group_limits") else breach.limit
    return RiskRejection(check, f"{f.side} {f.qty} {f.symbol}: {breach.reason}; trade smaller or hedge first")
