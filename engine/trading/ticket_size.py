"""The manual ticket's Size: the shared sizing (engine.trading.sizing.suggest_size) fed with the store's
facts the gateway itself will check: last close, ATR, equity, cash, the position with open orders,
gross exposure, the regime's bias and the active limits."""
from __future__ import annotations

from decimal import Decimal

import talib
from sqlalchemy import desc, select
from sqlalchemy.orm import Session

from engine.params import ParamSet
from engine.params.typed import Parameters
from engine.store.current_regime import current_regime
from engine.store.models import AccountSnapshot, BarRow, PositionRow
from engine.trading.brokers.base import OrderSide
from engine.trading.marks import latest_closes, to_decimal
from engine.trading.orders import open_order_deltas
from engine.trading.risk_limits import RiskLimits
from engine.trading.sizing import SizeResult, SizingParams, suggest_size

ATR_PERIOD = 14
ZERO = Decimal(0)


def ticket_size(session: Session, params: ParamSet | None, symbol: str, side: OrderSide) -> SizeResult:
    rows = session.execute(select(BarRow.high, BarRow.low, BarRow.close).where(BarRow.symbol == symbol)
                           .order_by(desc(BarRow.ts)).limit(ATR_PERIOD * 10)).all()[::-1]
    if len(rows) <= ATR_PERIOD:
        return SizeResult(ZERO, ZERO, "invalid", (f"no price history for {symbol} yet",))
    import numpy as np

    high, low, close = (np.asarray(col, dtype=float) for col in zip(*rows, strict=True))
    atr = float(talib.ATR(high, low, close, timeperiod=ATR_PERIOD)[-1])
    positions = {p.symbol: p.qty for p in session.scalars(select(PositionRow))}
    deltas = open_order_deltas(session)
    symbols = set(positions) | set(deltas) | {symbol}
    closes = latest_closes(session, symbols)
    gross = sum((abs(positions.get(s, ZERO) + deltas.get(s, ZERO)) * closes[s][0] for s in symbols if s in closes), ZERO)
    account = session.scalars(select(AccountSnapshot).order_by(desc(AccountSnapshot.id)).limit(1)).first()
    regime = current_regime(session)  # the effective regime: no bias when it is uncertain (no regime)
    bias = None
    if regime is not None and regime.regime_name is not None and params is not None:
        bias = {r.regime_name: str(r.trading_bias) for r in Parameters(params).regime_parameters.rows}.get(regime.regime_name)
    price = closes[symbol][0] if symbol in closes else to_decimal(close[-1])
    return suggest_size(account.equity if account else ZERO, price, to_decimal(atr), side,
                        SizingParams.from_params(params), RiskLimits.from_params(params),
                        position_qty=positions.get(symbol, ZERO) + deltas.get(symbol, ZERO), gross_exposure=gross,
                        cash=account.cash if account else None, trading_bias=bias,
                        in_transition=bool(regime.is_transition) if regime is not None else False)
