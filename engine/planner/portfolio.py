"""The planner's PortfolioState read from the store: positions (with when they were opened), cash,
closes, regime, trading state, last trades, open orders and the active risk limits."""
from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import desc, select
from sqlalchemy.orm import Session

from engine.params import ParamSet
from engine.planner.types import Holding, LastTrade, PortfolioState
from engine.store.models import (
    AccountSnapshot,
    BarRow,
    FillRow,
    Instrument,
    OrderRow,
    PositionRow,
    RegimeSnapshot,
)
from engine.trading import state as trading_state
from engine.trading.risk import RiskLimits

HISTORY_BARS = 300
OPEN_STATUSES = ("pending_new", "new", "partially_filled")


def _history(session: Session, symbols: list[str]) -> pd.DataFrame:
    series = {}
    for symbol in symbols:
        rows = session.execute(select(BarRow.ts, BarRow.close).where(BarRow.symbol == symbol)
                               .order_by(desc(BarRow.ts)).limit(HISTORY_BARS)).all()
        if rows:
            series[symbol] = pd.Series([float(c) for _, c in rows[::-1]], index=[t for t, _ in rows[::-1]])
    return pd.DataFrame(series).sort_index() if series else pd.DataFrame()


def _fills(session: Session) -> tuple[dict[str, LastTrade], dict[str, datetime]]:
    """Last trade per symbol, and when each position was opened (first buy after its last sell)."""
    last: dict[str, LastTrade] = {}
    opened: dict[str, datetime] = {}
    for symbol, side, ts in session.execute(select(FillRow.symbol, FillRow.side, FillRow.ts).order_by(FillRow.ts)):
        side = str(side).lower()
        last[symbol] = LastTrade(ts, side)
        if side == "sell":
            opened.pop(symbol, None)
        else:
            opened.setdefault(symbol, ts)
    return last, opened


def portfolio_state(session: Session, params: ParamSet | None, now: datetime | None = None) -> PortfolioState:
    """The portfolio now. `now` defaults to the newest bar's time (the market clock fills are stamped with)."""
    symbols = list(session.scalars(select(Instrument.symbol).where(Instrument.kind == "stock").order_by(Instrument.symbol)))
    history = _history(session, symbols)
    last_trades, opened = _fills(session)
    positions = {p.symbol: Holding(p.symbol, float(p.qty), float(p.avg_entry_price), opened.get(p.symbol))
                 for p in session.scalars(select(PositionRow)) if float(p.qty) != 0}
    account = session.scalars(select(AccountSnapshot).order_by(desc(AccountSnapshot.id)).limit(1)).first()
    regime = session.scalars(select(RegimeSnapshot).order_by(desc(RegimeSnapshot.id)).limit(1)).first()
    try:
        state = trading_state.current(session).state.value
    except LookupError:
        state = "ACTIVE"
    busy = frozenset(session.scalars(select(OrderRow.symbol).where(OrderRow.status.in_(OPEN_STATUSES))))
    if now is None:
        now = history.index[-1].to_pydatetime() if len(history) else datetime.now().astimezone()
    return PortfolioState(
        positions=positions, cash=float(account.cash) if account is not None else 0.0, history=history, now=now,
        regime=regime.regime_name if regime is not None else None, trading_state=str(state),
        last_trades=last_trades, limits=RiskLimits.from_params(params), open_symbols=busy)
