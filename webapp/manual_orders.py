"""The Trading page's manual order ticket: validate the form, then one call to the order gateway
(origin "manual"), so a manual order passes the same trading-state and risk checks as the planner's."""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from engine.params.versions import active_params
from engine.trading import gateway
from engine.trading.brokers.base import OrderSide, OrderType
from engine.trading.risk import active_limits
from engine.trading.ticket_size import ticket_size
from webapp import trading_queries
from webapp.context import get_context
from webapp.control_actions import web_actor


class TicketError(ValueError):
    """The form is incomplete or malformed; nothing was sent."""


SYMBOL_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9.\-]{0,15}$")
MAX_QTY = Decimal(10_000_000)
MAX_PRICE = Decimal(10_000_000)


def _number(value: Any, what: str) -> Decimal:
    """A finite Decimal from a form value (int, float or numeric text); anything else is refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)) or (isinstance(value, str) and len(value) > 32):
        raise TicketError(f"{what} must be a number")
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise TicketError(f"{what} must be a number") from None
    if not number.is_finite():
        raise TicketError(f"{what} must be a finite number, not {value}")
    return number


def parse_ticket(symbol: Any, side: Any, qty: Any, order_type: Any, limit: Any) -> gateway.OrderIntent:
    if symbol is None or (isinstance(symbol, str) and not symbol.strip()):
        raise TicketError("enter a symbol (e.g. SPY)")
    sym = symbol.strip().upper() if isinstance(symbol, str) else ""
    if not SYMBOL_PATTERN.match(sym):
        raise TicketError("a symbol is 1 to 16 letters, digits, '.' or '-' (e.g. SPY)")
    try:
        side_ = OrderSide(side if isinstance(side, str) else "")
        type_ = OrderType(order_type if isinstance(order_type, str) else "")
        if type_ not in (OrderType.MARKET, OrderType.LIMIT):
            raise ValueError(type_)
    except ValueError:
        raise TicketError("choose a side (buy/sell) and a type (market/limit)") from None
    if qty is None or qty == "":
        raise TicketError("enter a quantity (a whole number of shares)")
    quantity = _number(qty, "quantity")
    if quantity <= 0 or quantity != quantity.to_integral_value() or quantity > MAX_QTY:
        raise TicketError(f"quantity must be a whole number of shares from 1 to {MAX_QTY:,}, not {qty}")
    price = None
    if type_ is OrderType.LIMIT:
        if limit is None or limit == "":
            raise TicketError("a limit order needs a limit price")
        price = _number(limit, "limit price")
        if price <= 0 or price > MAX_PRICE:
            raise TicketError(f"limit price must be positive and at most {MAX_PRICE:,}, not {limit}")
    return gateway.OrderIntent(symbol=sym, side=side_, qty=quantity, order_type=type_, limit_price=price,
                               reason="manual ticket")


def submit_manual_order(symbol: str | None, side: str | None, qty: Any, order_type: str | None, limit: Any,
                        nonce: str) -> tuple[bool, str]:
    """(accepted, message). The nonce makes a double click one order, not two."""
    try:
        intent = parse_ticket(symbol, side, qty, order_type, limit)
        if not isinstance(nonce, str) or not 1 <= len(nonce) <= 64:
            raise TicketError("the form is out of date; reload the page")
    except TicketError as exc:
        return False, f"Not sent: {exc}."
    from dataclasses import replace

    intent = replace(intent, idempotency_key=f"ticket-{nonce}")
    ctx = get_context()
    result = gateway.submit(ctx, intent, actor=web_actor(), origin="manual", limits=active_limits(ctx.store))
    trading_queries.forget()
    what = f"{intent.side.value} {intent.qty} {intent.symbol}" + (
        f" limit {intent.limit_price}" if intent.limit_price is not None else " at market")
    if result.duplicate:
        return result.accepted, f"Already submitted: {what} is {result.status.value} ({result.client_order_id})."
    if not result.accepted:
        return False, f"Rejected: {what}: {result.reason}"
    extra = f" — {result.reason}" if result.reason else ""
    return True, f"Sent: {what}, status {result.status.value} ({result.client_order_id}){extra}."


def suggest_ticket_size(symbol: str | None, side: str | None) -> tuple[int | None, str]:
    """The shared sizing's answer for the ticket (ATR risk, Kelly cap, regime bias, every gateway limit, cash)."""
    sym = (symbol or "").strip().upper()
    if not sym:
        return None, "Enter a symbol to size."
    try:
        side_ = OrderSide(side or "")
    except ValueError:
        return None, "Choose buy or sell to size."
    with get_context().store.read() as session:
        result = ticket_size(session, active_params(session), sym, side_)
    notes = "; ".join(result.notes)
    if result.qty <= 0:
        return None, f"No size for {side_.value} {sym}: {notes}"
    return int(result.qty), f"Suggested {int(result.qty):,} shares (bound by {result.binding}): {notes}"
