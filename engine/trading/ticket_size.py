"""The manual ticket's Size: the shared sizing (engine.trading.sizing.suggest_size) fed with the store's
facts the gateway itself will check: last close, ATR, equity, cash, the position with open orders,
gross exposure, the regime's bias and the active limits. With the source's exchange calendar (Alpaca: XNYS) the
ATR reads regular-session bars only, as the regime does: thin pre-market minutes shrank it and inflated the size."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import desc, select
from sqlalchemy.orm import Session

from engine.execution.session_atr import atr, recent_hlc
from engine.market.exchange import MarketCalendar
from engine.params import ParamSet
from engine.params.typed import Parameters
from engine.store.current_regime import current_regime
from engine.store.models import AccountSnapshot, PositionRow
from engine.trading.brokers.base import OrderSide
from engine.trading.marks import latest_closes, to_decimal
from engine.trading.orders import open_order_deltas
from engine.trading.risk_limits import RiskLimits
from engine.trading.sizing import SizeResult, SizingParams, suggest_size

ATR_PERIOD = 14
ZERO = Decimal(0)


def ticket_size(session: Session, params: ParamSet | None, symbol: str, side: OrderSide,
                calendar: MarketCalendar | None = None) -> SizeResult:
    """`calendar`: the market source's (engine.market.exchange.calendar_for_settings); None counts every bar."""
    high, low, close = recent_hlc(session, symbol, ATR_PERIOD * 10, calendar)
    if len(close) <= ATR_PERIOD:
        return SizeResult(ZERO, ZERO, "invalid", (f"no price history for {symbol} yet",))
    value = atr(high, low, close, ATR_PERIOD)
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
    return suggest_size(account.equity if account else ZERO, price, to_decimal(value if value is not None else 0.0), side,
                        SizingParams.from_params(params), RiskLimits.from_params(params),
                        position_qty=positions.get(symbol, ZERO) + deltas.get(symbol, ZERO), gross_exposure=gross,
                        cash=account.cash if account else None, trading_bias=bias,
                        in_transition=bool(regime.is_transition) if regime is not None else False,
                        regime=regime.regime_name if regime is not None and params is not None else None)
