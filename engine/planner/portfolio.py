"""The planner's PortfolioState read from the store: positions (with when they were opened: held_since.py), cash
(and what open buys will still spend of it: engine/planner/committed.py), closes, regime, trading state, last trades,
busy symbols (an open order or a working sliced parent; not a resting stop), the active risk limits and the shared
position sizing's cap per symbol."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import numpy as np
import pandas as pd
import talib
from sqlalchemy import bindparam, desc, func, select
from sqlalchemy.orm import Session

from engine.market.exchange import MarketCalendar
from engine.params import ParamSet
from engine.planner import held_since
from engine.planner.committed import Commitment, CommittedState
from engine.planner.context import ffill
from engine.planner.types import Holding, PortfolioState
from engine.protocols import BarHistory
from engine.store.current_regime import current_regime, uncertain_note
from engine.store.models import (
    AccountSnapshot,
    BarRow,
    Instrument,
    OrderRow,
    ParentChild,
    ParentOrder,
    PositionRow,
)
from engine.trading import state as trading_state
from engine.trading.brokers.base import OrderSide
from engine.trading.marks import latest_closes, to_decimal
from engine.trading.orders import CONTINGENT_TYPES, OPEN_STATUSES
from engine.trading.risk_limits import RiskLimits
from engine.trading.sizing import SizingParams, missing_bias_note, regime_bias, size_position

HISTORY_BARS = 300
ATR_PERIOD = 14
# Built once (a statement per symbol every cycle): building it cost more than running it.
_SYMBOL_BARS = (select(BarRow.ts, BarRow.high, BarRow.low, BarRow.close).where(BarRow.symbol == bindparam("symbol"))
                .order_by(desc(BarRow.ts)).limit(HISTORY_BARS))
# With an exchange the ATR reads the regular session's bars among more stored rows: Alpaca's minutes run 04:00-20:00
# ET, 960 a day against the session's 390, so the newest 300 rows just after the open hold few of the session's.
SESSION_READ_BARS = 3 * HISTORY_BARS
_SESSION_BARS = _SYMBOL_BARS.limit(SESSION_READ_BARS)


def atr_of(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> float | None:
    return float(talib.ATR(high, low, close, timeperiod=ATR_PERIOD)[-1]) if len(close) > ATR_PERIOD else None


def session_atr(times: pd.Index, high: np.ndarray, low: np.ndarray, close: np.ndarray,
                calendar: MarketCalendar | None) -> float | None:
    """The ATR the sizing uses, over the regular session's bars when the source has an exchange (Alpaca: XNYS), as
    the regime reads them: pre-market and after-hours minutes have a fraction of the session's range and made the
    ATR, and so the risk-sized positions, ~3x off right after the open. Without an exchange: every bar."""
    if _has_exchange(calendar) and len(close):
        assert calendar is not None
        keep = calendar.regular_session_mask(pd.Series(pd.to_datetime(times, utc=True)))
        high, low, close = high[keep][-HISTORY_BARS:], low[keep][-HISTORY_BARS:], close[keep][-HISTORY_BARS:]
    return atr_of(high, low, close)


def _has_exchange(calendar: MarketCalendar | None) -> bool:
    return calendar is not None and calendar.exchange is not None


def _closes_frame(columns: dict[str, tuple[pd.Index, np.ndarray]]) -> pd.DataFrame:
    """pd.DataFrame({symbol: pd.Series(close, index=times)}).sort_index(). When every symbol has the same
    times (the usual case: the symbols share their bar times) the frame is built from the stacked closes,
    without building a Series per symbol and pandas' alignment, which cost ~10x as much; the frame is the
    same (same index, columns, float values)."""
    if not columns:
        return pd.DataFrame()
    first = next(iter(columns.values()))[0]
    if len(columns) > 1 and all((idx is first or idx.equals(first)) and close.dtype == np.float64
                                for idx, close in columns.values()):
        return _sorted(pd.DataFrame(np.column_stack([close for _, close in columns.values()]), index=first,
                                    columns=list(columns)))
    return _sorted(pd.DataFrame({s: pd.Series(close, index=idx) for s, (idx, close) in columns.items()}))


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    """frame.sort_index(), which on an already ascending index (the bars' usual order) returns the same
    frame's shallow copy: the check alone, without the call's own work (the frame here is a new one)."""
    return frame if frame.index.is_monotonic_increasing else frame.sort_index()


def _history(session: Session, symbols: list[str], bars: BarHistory | None = None,
             calendar: MarketCalendar | None = None) -> tuple[pd.DataFrame, dict[str, float]]:
    """Closes (one column per symbol) and each symbol's ATR (session_atr); `bars`: a backtest's bars in memory (same
    rows)."""
    columns: dict[str, tuple[pd.Index, np.ndarray]] = {}
    atr = {}
    read, statement = (SESSION_READ_BARS, _SESSION_BARS) if _has_exchange(calendar) else (HISTORY_BARS, _SYMBOL_BARS)
    for symbol in symbols:
        if bars is not None:
            ts, high, low, close = bars.recent(symbol, read)
            if not len(ts):
                continue
            index = ts
        else:
            rows = session.execute(statement, {"symbol": symbol}).all()[::-1]
            if not rows:
                continue
            high, low, close = (np.asarray([r[i] for r in rows], dtype=float) for i in (1, 2, 3))
            index = pd.Index([r[0] for r in rows])
        # the closes: the newest HISTORY_BARS rows, any session
        columns[symbol] = (index, close) if read == HISTORY_BARS else (index[-HISTORY_BARS:], close[-HISTORY_BARS:])
        if (value := session_atr(index, high, low, close, calendar)) is not None:
            atr[symbol] = value
    return _closes_frame(columns), atr


def _last_closes(history: pd.DataFrame) -> dict[str, float]:
    """Each symbol's newest close (history.ffill().iloc[-1] without its NaNs), from the array: no frames built."""
    if not len(history):
        return {}
    last = ffill(history.to_numpy(dtype=float))[-1]
    return {str(c): float(v) for c, v in zip(history.columns.tolist(), last, strict=True) if not np.isnan(v)}


def size_caps(params: ParamSet | None, equity: float, prices: dict[str, float], atr: dict[str, float],
              held: dict[str, float], regime: str | None, in_transition: bool, limits: RiskLimits) -> dict[str, float]:
    """Per symbol, the most shares a buy may add under the shared sizing (ATR risk, Kelly cap, the regime's
    TradingBias, the transition cap, position and order limits): the same numbers the ticket's Size shows.
    A regime without a RegimeParameters row caps every buy at 0 (size_position; the plan's notes list each buy
    "cut by the position sizing")."""
    sizing = SizingParams.from_params(params)
    bias = regime_bias(params, regime)
    known = regime if params is not None else None  # without parameters no regime table to miss a row from
    caps = {}
    for symbol, price in prices.items():
        if symbol not in atr or atr[symbol] <= 0 or equity <= 0:
            continue
        result = size_position(to_decimal(equity), to_decimal(price), to_decimal(atr[symbol]), OrderSide.BUY, sizing,
                               limits, trading_bias=bias, in_transition=in_transition,
                               current_qty=to_decimal(max(0.0, held.get(symbol, 0.0))), regime=known)
        caps[symbol] = float(result.qty)
    return caps


# Built once: the planner reads these every cycle, and building (and cache-keying) a statement cost more
# than running it on a backtest's in-memory store.
_STOCKS = select(Instrument.symbol).where(Instrument.kind == "stock").order_by(Instrument.symbol)
# the columns read, not the rows as objects: building ORM objects per row cost more than the read itself
_POSITIONS = select(PositionRow.symbol, PositionRow.qty, PositionRow.avg_entry_price)
_LATEST_CASH = select(AccountSnapshot.cash).order_by(desc(AccountSnapshot.id)).limit(1)
# A symbol with an open order, or with a sliced parent still working (its next child may not be placed yet), is
# busy: planning it again bought it twice (a second TWAP parent beside the first). A resting stop / trailing stop
# (native_stops' protective exit) is contingent, not working: it leaves the symbol plannable, or a protected
# position could never be trimmed or exited (even under REDUCING); the gateway cancels and re-places the stop around
# an exit (engine/execution/native_cover.py).
_BUSY = select(OrderRow.symbol).where(OrderRow.status.in_(OPEN_STATUSES),
                                      OrderRow.order_type.not_in(CONTINGENT_TYPES)).union(
    select(ParentOrder.symbol).where(ParentOrder.status == "active"))
# Cash still to be paid: open buys (resting stops are contingent exits, not working: left out, as in
# orders.open_order_deltas), and per working buy parent each child's share of it (an open child counts whole: the
# order row above pays its rest; a finished one what it filled; a link without an order row was never sent).
_OPEN_BUYS = (select(OrderRow.symbol, OrderRow.order_type, OrderRow.qty - OrderRow.filled_qty, OrderRow.limit_price)
              .where(OrderRow.status.in_(OPEN_STATUSES), func.lower(OrderRow.side) == "buy",
                     OrderRow.order_type.not_in(CONTINGENT_TYPES)).order_by(OrderRow.id))
_BUY_PARENTS = (select(ParentOrder.id, ParentOrder.symbol, ParentOrder.mode, ParentOrder.qty, OrderRow.status,
                       OrderRow.qty, OrderRow.filled_qty)
                .outerjoin(ParentChild, ParentChild.parent_id == ParentOrder.id)
                .outerjoin(OrderRow, OrderRow.client_order_id == ParentChild.client_order_id)
                .where(ParentOrder.status == "active", func.lower(ParentOrder.side) == "buy").order_by(ParentOrder.id))


def commitments(session: Session, prices: dict[str, float]) -> tuple[Commitment, ...]:
    """The buys already under way that the cash will pay for: each open buy's unfilled rest at its limit (a market
    order at the latest close), and each working buy parent's quantity still to send at the latest close."""
    out = [Commitment(sym, f"{kind} buy", float(rest), float(limit) if limit is not None else prices.get(sym))
           for sym, kind, rest, limit in session.execute(_OPEN_BUYS) if rest > 0]
    parents: dict[int, tuple[str, str, float]] = {}
    for pid, sym, mode, qty, status, child_qty, child_filled in session.execute(_BUY_PARENTS):
        sym, mode, left = parents.get(pid, (sym, mode, float(qty)))
        if status is not None:  # sent: an open child is paid by its order row, a finished one paid what it filled
            left -= float(child_qty if status in OPEN_STATUSES else child_filled)
        parents[pid] = (sym, mode, left)
    out += [Commitment(sym, f"{mode.upper()} parent, still to send,", left, prices.get(sym))
            for sym, mode, left in parents.values() if left > 0]
    if unpriced := {c.symbol for c in out if c.price is None}:  # not a planned stock: its last stored close
        closes = latest_closes(session, unpriced)
        out = [replace(c, price=float(closes[c.symbol][0])) if c.price is None and c.symbol in closes else c
               for c in out]
    return tuple(out)


def portfolio_state(session: Session, params: ParamSet | None, now: datetime | None = None,
                    bars: BarHistory | None = None, calendar: MarketCalendar | None = None) -> PortfolioState:
    """The portfolio now. `now` defaults to the newest bar's time (the market clock fills are stamped with);
    `bars`: a backtest's bars in memory, read instead of the store's (the same rows); `calendar`: the source's
    (the ATR's session, session_atr)."""
    symbols = list(session.scalars(_STOCKS))
    history, atr = _history(session, symbols, bars, calendar)
    if now is None:
        now = history.index[-1].to_pydatetime() if len(history) else datetime.now().astimezone()
    rows = [p for p in session.execute(_POSITIONS) if float(p.qty) != 0]
    last_trades, opened = held_since.last_trades(session), held_since.opened_at(session, {p.symbol: p.qty for p in rows},
                                                                                 now)
    positions = {p.symbol: Holding(p.symbol, float(p.qty), float(p.avg_entry_price), opened[p.symbol]) for p in rows}
    account = session.execute(_LATEST_CASH).first()
    regime = current_regime(session)  # the effective regime (None under an uncertain CONSERVATIVE verdict)
    try:
        state = trading_state.current(session).state.value
    except LookupError:
        state = "ACTIVE"
    busy = frozenset(session.scalars(_BUSY))
    limits = RiskLimits.from_params(params)
    cash = float(account.cash) if account is not None else 0.0
    prices = _last_closes(history)
    equity = cash + sum(h.qty * prices.get(s, h.avg_price) for s, h in positions.items())
    caps = size_caps(params, equity, prices, atr, {s: h.qty for s, h in positions.items()},
                     regime.regime_name if regime is not None else None,
                     regime.is_transition if regime is not None else False, limits)
    return CommittedState(
        positions=positions, cash=cash, history=history, now=now,
        regime=regime.regime_name if regime is not None else None, trading_state=str(state),
        last_trades=last_trades, limits=limits, open_symbols=busy, size_caps=caps,
        regime_hold=uncertain_note(regime) or _no_bias_hold(params, regime.regime_name if regime is not None else None),
        account_cash=cash, commitments=commitments(session, prices))


def _no_bias_hold(params: ParamSet | None, regime: str | None) -> str | None:
    """Why no buy is planned in a regime without its RegimeParameters row (its caps are 0: size_caps): said in the
    plan's notes and by the Send gate, as an uncertain regime's hold is."""
    if params is None or regime is None or regime_bias(params, regime) is not None:
        return None
    return missing_bias_note(regime)
