"""Planner state in the store (active preset, user presets) and the plan for the current portfolio.

Changing the active preset or saving a user preset is audited with the acting user.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal

import numpy as np
import talib
from sqlalchemy import desc, select
from sqlalchemy.orm import Session

from engine import audit
from engine.params import ParamSet
from engine.params.versions import active_params
from engine.planner.plan import PlannedTrade, make_plan
from engine.planner.presets import BUILT_IN, PresetError, PresetKnobs, built_in_presets
from engine.store.db import Store
from engine.store.models import AccountSnapshot, BarRow, Instrument, KeyValue, PositionRow, RegimeSnapshot
from engine.trading.brokers.base import OrderSide
from engine.trading.risk import RiskLimits
from engine.trading.sizing import SizeResult, SizingParams, bias_allows, size_position

ACTIVE_KEY = "planner.active_preset"
USER_KEY = "planner.user_presets"
HISTORY_BARS = 300
ATR_PERIOD = 14


def _kv(session: Session, key: str) -> dict | None:
    row = session.get(KeyValue, key)
    return row.value if row is not None else None


def _put_kv(session: Session, key: str, value: dict, now: datetime) -> None:
    row = session.get(KeyValue, key)
    if row is None:
        session.add(KeyValue(key=key, value=value, updated_at=now))
    else:
        row.value, row.updated_at = value, now


def all_presets(session: Session) -> dict[str, PresetKnobs]:
    presets = built_in_presets()
    for name, knobs in (_kv(session, USER_KEY) or {}).items():
        presets[name] = PresetKnobs(**knobs)
    return presets


def active_preset(session: Session) -> PresetKnobs:
    stored = _kv(session, ACTIVE_KEY)
    return PresetKnobs(**stored) if stored else built_in_presets()["default"]


def set_active_preset(store: Store, now: datetime, actor: str, knobs: PresetKnobs) -> None:
    with store.write() as session:
        previous = active_preset(session)
        _put_kv(session, ACTIVE_KEY, asdict(knobs), now)
        audit.record(session, now, actor, "planner.set_active_preset", target=knobs.name,
                     details={"from": asdict(previous), "to": asdict(knobs)})


def save_user_preset(store: Store, now: datetime, actor: str, knobs: PresetKnobs) -> None:
    if knobs.name in BUILT_IN:
        raise PresetError(f"{knobs.name!r} is a built-in preset; save under another name")
    if not knobs.name.strip():
        raise PresetError("a user preset needs a name")
    with store.write() as session:
        user = dict(_kv(session, USER_KEY) or {})
        user[knobs.name] = asdict(knobs)
        _put_kv(session, USER_KEY, user, now)
        audit.record(session, now, actor, "planner.save_user_preset", target=knobs.name, details=asdict(knobs))


@dataclass(frozen=True)
class PortfolioInputs:
    """What the planner needs to know about now: prices, ATRs, positions, equity and the regime."""

    closes: dict[str, np.ndarray]
    atr: dict[str, float]
    positions: dict[str, float]
    equity: float
    regime_name: str | None
    in_transition: bool


def portfolio_inputs(session: Session) -> PortfolioInputs:
    symbols = list(session.scalars(select(Instrument.symbol).where(Instrument.kind == "stock")))
    closes, atr = {}, {}
    for symbol in symbols:
        rows = session.execute(select(BarRow.high, BarRow.low, BarRow.close).where(BarRow.symbol == symbol)
                               .order_by(desc(BarRow.ts)).limit(HISTORY_BARS)).all()[::-1]
        high, low, close = (np.asarray(col, dtype=float) for col in zip(*rows, strict=True)) if rows else ([],) * 3
        closes[symbol] = np.asarray(close, dtype=float)
        if len(close) > ATR_PERIOD:
            atr[symbol] = float(talib.ATR(high, low, closes[symbol], timeperiod=ATR_PERIOD)[-1])
    positions = {p.symbol: float(p.qty) for p in session.scalars(select(PositionRow))}
    account = session.scalars(select(AccountSnapshot).order_by(desc(AccountSnapshot.id)).limit(1)).first()
    regime = session.scalars(select(RegimeSnapshot).order_by(desc(RegimeSnapshot.id)).limit(1)).first()
    return PortfolioInputs(closes, atr, positions, float(account.equity) if account is not None else 0.0,
                           regime.regime_name if regime is not None else None,
                           bool(regime.is_transition) if regime is not None else False)


@dataclass(frozen=True)
class Sizer:
    """Position sizing for the current portfolio: the active parameters' sizing, limits and the regime's bias."""

    inputs: PortfolioInputs
    sizing: SizingParams
    limits: RiskLimits
    regime_bias: str | None

    @classmethod
    def build(cls, session: Session, params: ParamSet) -> Sizer:
        inputs = portfolio_inputs(session)
        biases = {r.regime_name: str(r.trading_bias) for r in params.table("RegimeParameters")}
        return cls(inputs, SizingParams.from_params(params), RiskLimits.from_params(params),
                   biases.get(inputs.regime_name) if inputs.regime_name else None)

    def bias(self, side: float) -> float:
        """The regime TradingBias multiplier for a side (0 when the bias forbids it)."""
        if self.regime_bias is None:
            return 1.0
        order_side = OrderSide.BUY if side > 0 else OrderSide.SELL
        if not bias_allows(self.regime_bias, order_side):
            return 0.0
        return float(self.sizing.bias_multipliers.get(self.regime_bias.upper(), 1))

    def size(self, symbol: str, side: OrderSide, apply_bias: bool = True) -> SizeResult:
        """Shares to open or add on `side` (ATR risk, Kelly cap, regime bias, transition cap, limits)."""
        closes = self.inputs.closes.get(symbol)
        atr = self.inputs.atr.get(symbol)
        if closes is None or not len(closes) or atr is None:
            return SizeResult(Decimal(0), Decimal(0), "invalid", (f"no price history for {symbol} yet",))
        signed = self.inputs.positions.get(symbol, 0.0) * (1 if side is OrderSide.BUY else -1)
        return size_position(Decimal(str(self.inputs.equity)), Decimal(str(float(closes[-1]))), Decimal(str(atr)),
                             side, self.sizing, self.limits,
                             trading_bias=self.regime_bias if apply_bias else None,
                             in_transition=self.inputs.in_transition, current_qty=Decimal(str(max(0.0, signed))))

    def cap(self, symbol: str, price: float, side: float, current: float) -> float:
        """make_plan's size cap; the plan applies the bias itself (blended by the preset), so it is left out here."""
        del price, current  # the sizer reads both from the portfolio
        return float(self.size(symbol, OrderSide.BUY if side > 0 else OrderSide.SELL, apply_bias=False).qty)


def plan_for_portfolio(session: Session, knobs: PresetKnobs, params: ParamSet | None = None) -> list[PlannedTrade]:
    """The preset's plan, sized by the shared position sizing under the active parameters and regime."""
    sizer = Sizer.build(session, params or active_params(session))
    inputs = sizer.inputs
    return make_plan(inputs.closes, inputs.positions, inputs.equity, knobs.limits(), bias=sizer.bias,
                     size_cap=sizer.cap, regime_name=inputs.regime_name)
