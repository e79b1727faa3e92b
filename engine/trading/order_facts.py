"""The facts the gateway's pre-trade checks judge an order on, read in the order's own transaction.

Kept apart from the gateway (engine/trading/gateway.py), whose job is the order's path to the broker. Open orders
are read per side (engine/trading/open_sides.py): exposure limits are judged on the worst case, never on a resting
exit netted against the new order.
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.store.models import PositionRow
from engine.trading import state as trading_state
from engine.trading.account_flags import read_account_flags
from engine.trading.brokers.base import OrderSide, OrderType
from engine.trading.equity import read_marks
from engine.trading.instruments import instrument_kind
from engine.trading.intent import OrderIntent
from engine.trading.marks import latest_closes, projected_gross, symbol_data_time
from engine.trading.open_sides import NONE_OPEN, open_order_sides
from engine.trading.risk import OrderFacts


def lock_state(session: Session, now: datetime) -> trading_state.StateSnapshot:
    """The trading state, row-locked: concurrent gateways queue here."""
    try:
        return trading_state.current(session, lock=True)
    except LookupError:  # a fresh store: the state row appears with its initial value
        trading_state.ensure_state(session, now)
        return trading_state.current(session, lock=True)


def gather_facts(session: Session, intent: OrderIntent, actor: str, origin: str, now: datetime,
                 wall_clock_bars: bool = True, index_symbol: str | None = None,
                 index_tradable: bool = False) -> OrderFacts:
    """Read, in the caller's transaction, every fact the checks need (state locked first).

    `index_symbol`: the market source's index, refused like any instrument the store records as an index."""
    state = lock_state(session, now).state
    rows = {p.symbol: p for p in session.scalars(select(PositionRow))}
    positions = {s: p.qty for s, p in rows.items()}
    sides = open_order_sides(session)
    symbols = set(positions) | set(sides) | {intent.symbol}
    closes = latest_closes(session, symbols)
    gross, unpriced = projected_gross(symbols, positions, sides, closes, rows)
    marks = read_marks(session)
    last, position = closes.get(intent.symbol), positions.get(intent.symbol, Decimal(0))
    own = sides.get(intent.symbol, NONE_OPEN)
    return OrderFacts(
        state=state, symbol=intent.symbol, side=OrderSide(intent.side), qty=intent.qty,
        order_type=OrderType(intent.order_type), limit_price=intent.limit_price, origin=origin, actor=actor, now=now,
        last_price=last[0] if last else None, last_data_at=symbol_data_time(session, last[1] if last else None, now, wall_clock_bars),
        position_qty=position, projected_qty=position + own.net, open_buys=own.buys, open_sells=own.sells,
        equity=marks.equity, start_of_day_equity=marks.start_of_day, peak_equity=marks.peak, gross_exposure=gross,
        instrument_kind=instrument_kind(session, intent.symbol, index_symbol), index_tradable=index_tradable,
        unpriced=unpriced, account=read_account_flags(session))
