"""Small hand-made portfolios for the planner's unit tests: a PlanContext with chosen prices, weights,
quality and targets, so each module's expectation can be computed by hand."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from engine.planner.context import PlanContext
from engine.planner.preset_schema import DEFAULTS
from engine.planner.types import Holding, LastTrade, PortfolioState
from engine.trading.risk_limits import RiskLimits

NOW = datetime(2026, 6, 1, tzinfo=UTC)
LONG_AGO = NOW - timedelta(days=400)


def holding(symbol: str, qty: float, avg: float, days_held: float = 400) -> Holding:
    return Holding(symbol, qty, avg, NOW - timedelta(days=days_held))


def ctx(prices: dict[str, float], positions: list[Holding] = (), cash: float = 0.0,  # type: ignore[assignment]
        quality: dict[str, float] | None = None, targets: dict[str, float] | None = None,
        params: dict[str, object] | None = None, last_trades: dict[str, LastTrade] | None = None,
        returns: pd.DataFrame | None = None, regime: str | None = None, stance: str | None = None,
        limits: RiskLimits | None = None, trading_state: str = "ACTIVE") -> PlanContext:
    history = pd.DataFrame({s: [p] for s, p in prices.items()}, index=[NOW])
    state = PortfolioState(positions={h.symbol: h for h in positions}, cash=cash, history=history, now=NOW,
                           regime=regime, trading_state=trading_state, last_trades=last_trades or {},
                           limits=limits or RiskLimits())
    equity = state.equity
    weights = {h.symbol: h.qty * prices[h.symbol] / equity for h in positions} if equity > 0 else {}
    return PlanContext(state, {**DEFAULTS, **(params or {})}, dict(prices), equity, weights,
                       quality or {s: 0.0 for s in prices},
                       returns if returns is not None else pd.DataFrame(columns=list(prices)),
                       targets or {}, stance)
