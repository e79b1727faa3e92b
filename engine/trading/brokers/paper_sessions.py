"""The paper broker's exchange-session rules: when an order may be sent, and when a DAY order stops.

Kept apart from the order book (paper.py) so the session rules, the same as Alpaca's, read in one place.
``calendar`` is a MarketCalendar with an exchange, or None: without an exchange (the simulated market
trades every minute) there are no sessions and every rule lets the order through.
"""
from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.market.exchange import AFTER_HOURS, EXTENDED_WORDS
from engine.store.models import PaperOrder
from engine.trading.brokers.base import OrderRequest, OrderStatus, OrderType

OPEN = (OrderStatus.NEW.value, OrderStatus.PARTIALLY_FILLED.value)


def session_reason(calendar: Any, extended_hours: bool, req: OrderRequest, now: datetime) -> str | None:
    """Why the exchange session refuses the order now (None: it may go), the same rule as Alpaca's."""
    cal = calendar
    if cal is None or cal.is_regular_open(now):
        return None
    if not extended_hours:
        return (f"the market is closed ({cal.label}, {now:%Y-%m-%d %H:%M} UTC); orders are accepted only during "
                "the regular session")
    if not cal.in_extended_hours(now):
        return f"outside extended hours ({EXTENDED_WORDS}, {cal.timezone}, on a trading day)"
    if req.order_type is not OrderType.LIMIT:
        return "outside the regular session only limit orders are accepted (extended hours)"
    return None


def expire_day_orders(s: Session, calendar: Any, now: datetime) -> int:
    """Every paper order is a DAY order: open ones expire at the close of the session they were sent in."""
    if calendar is None:
        return 0
    expired = 0
    for order in s.scalars(select(PaperOrder).where(PaperOrder.status.in_(OPEN))):
        end = order_end(calendar, order)
        if end is not None and now >= end:
            order.status, order.updated_at = OrderStatus.EXPIRED.value, now
            expired += 1
    return expired


def order_end(calendar: Any, order: PaperOrder) -> datetime | None:
    """When a DAY order stops: its session's close, or the end of after-hours (close + 4 h, the rule
    MarketCalendar.extended_hours decides the window by) if sent after it."""
    if calendar is None:
        return None
    submitted = order.submitted_at if order.submitted_at.tzinfo else order.submitted_at.replace(tzinfo=UTC)
    hours = calendar.regular_hours(date.fromisoformat(calendar.trading_day(submitted)))
    if hours is None:
        return None
    return hours[1] if submitted < hours[1] else hours[1] + AFTER_HOURS
