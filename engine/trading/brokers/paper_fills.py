"""The paper broker's fill simulation: open orders matched against stored bars, and each fill booked.

Split from paper.py so the broker keeps the Broker protocol (orders, cancels, account) and this module
the matching: which orders a bar fills (a share of its volume, limits reached, DAY orders still in their
session), at what price and time, and what each fill does to the order, the position and the account.
The callers hold the write transaction; nothing here commits.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from engine.market.types import Bar
from engine.store.models import PaperAccount, PaperFill, PaperOrder, PaperPosition
from engine.trading.brokers.base import OrderSide, OrderStatus, OrderType
from engine.trading.brokers.paper_books import (
    ZERO,
    apply_fill,
    fill_price_for,
    money,
    price,
    signed,
    volume_cap,
)
from engine.trading.brokers.paper_sessions import OPEN, order_end


def fill_time(bar: Bar, order: PaperOrder) -> datetime:
    """When a fill happened: inside the bar it filled on, never before its order was sent (the later of the
    bar's open and the order's submission). The broker's clock is the market clock, so with the simulated
    market the order was sent at the open of the first bar it meets and the fill carries that bar's time."""
    submitted = order.submitted_at if order.submitted_at.tzinfo else order.submitted_at.replace(tzinfo=UTC)
    return max(bar.ts if bar.ts.tzinfo else bar.ts.replace(tzinfo=UTC), submitted)


def bars_by_symbol(bars: list[Bar]) -> dict[str, list[Bar]]:
    """The bars grouped by symbol, each group in time order."""
    by_symbol: dict[str, list[Bar]] = defaultdict(list)
    for bar in sorted(bars, key=lambda b: b.ts):
        by_symbol[bar.symbol].append(bar)
    return by_symbol


def match_orders(s: Session, acct: PaperAccount, positions: dict[str, PaperPosition], orders: list[PaperOrder],
                 by_symbol: dict[str, list[Bar]], *, calendar: Any, participation: Decimal, slippage_bps: Decimal,
                 commission_per_share: Decimal) -> list[PaperFill]:
    """Fill ``orders`` (open, oldest first) against each symbol's bars; returns the fills made, in order."""
    fills: list[PaperFill] = []
    for symbol, symbol_bars in by_symbol.items():
        mine = [o for o in orders if o.symbol == symbol]
        for bar in symbol_bars:
            capacity = volume_cap(bar, participation)
            for order in mine:
                if capacity <= 0:
                    break
                if order.status not in OPEN:
                    continue
                end = order_end(calendar, order)
                if end is not None and bar.ts >= end:
                    continue  # a bar after the order's session: it expires unfilled
                px = fill_price_for(OrderSide(order.side), OrderType(order.order_type), order.limit_price,
                                    bar, slippage_bps)
                if px is None:
                    continue
                qty = min(order.qty - order.filled_qty, capacity)
                capacity -= qty
                fills.append(book_fill(s, acct, positions, order, qty, px, fill_time(bar, order),
                                       commission_per_share))
    return fills


def book_fill(s: Session, acct: PaperAccount, positions: dict[str, PaperPosition], order: PaperOrder,
              qty: Decimal, px: Decimal, now: datetime, commission_per_share: Decimal) -> PaperFill:
    """One fill: the position, the account's cash, P&L and commissions, the order's progress, and the fill row."""
    commission = money(qty * commission_per_share)
    pos = positions.get(order.symbol)
    if pos is None:
        pos = PaperPosition(symbol=order.symbol, qty=ZERO, avg_entry_price=ZERO)
        s.add(pos)
        positions[order.symbol] = pos
    change = apply_fill(pos.qty, pos.avg_entry_price, signed(order.side, qty), px)
    pos.qty, pos.avg_entry_price = change.qty, change.avg_entry_price
    acct.cash = money(acct.cash - signed(order.side, qty) * px - commission)
    acct.realized_pnl = money(acct.realized_pnl + change.realized_pnl)
    acct.commissions = money(acct.commissions + commission)
    acct.updated_at = now
    prior = order.filled_qty
    order.filled_qty = prior + qty
    order.filled_avg_price = price(((order.filled_avg_price or ZERO) * prior + px * qty) / order.filled_qty)
    order.status = (OrderStatus.FILLED if order.filled_qty >= order.qty else OrderStatus.PARTIALLY_FILLED).value
    order.updated_at = now
    fill = PaperFill(broker_order_id=order.broker_order_id, client_order_id=order.client_order_id,
                     symbol=order.symbol, side=order.side, qty=qty, price=px, commission=commission, ts=now)
    s.add(fill)
    s.flush()
    return fill
