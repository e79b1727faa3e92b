"""The Trading page's manual order ticket: validate the form, then one call to the order gateway
(origin "manual"), so a manual order passes the same trading-state and risk checks as the planner's."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from engine.trading import gateway
from engine.trading.brokers.base import OrderSide, OrderType
from engine.trading.control_steps import risk_limits
from webapp import trading_queries
from webapp.context import get_context
from webapp.control_actions import web_actor


class TicketError(ValueError):
    """The form is incomplete or malformed; nothing was sent."""


def parse_ticket(symbol: str | None, side: str | None, qty: Any, order_type: str | None,
                 limit: Any) -> gateway.OrderIntent:
    sym = (symbol or "").strip().upper()
    if not sym:
        raise TicketError("enter a symbol (e.g. SPY)")
    try:
        side_ = OrderSide(side or "")
        type_ = OrderType(order_type or "")
    except ValueError:
        raise TicketError("choose a side (buy/sell) and a type (market/limit)") from None
    try:
        quantity = Decimal(str(qty))
    except (InvalidOperation, TypeError):
        raise TicketError("enter a quantity (a whole number of shares)") from None
    if quantity <= 0 or quantity != quantity.to_integral_value():
        raise TicketError(f"quantity must be a positive whole number of shares, not {qty}")
    price = None
    if type_ is OrderType.LIMIT:
        try:
            price = Decimal(str(limit))
        except (InvalidOperation, TypeError):
            raise TicketError("a limit order needs a limit price") from None
        if price <= 0:
            raise TicketError(f"limit price must be positive, not {limit}")
    return gateway.OrderIntent(symbol=sym, side=side_, qty=quantity, order_type=type_, limit_price=price,
                               reason="manual ticket")


def submit_manual_order(symbol: str | None, side: str | None, qty: Any, order_type: str | None, limit: Any,
                        nonce: str) -> tuple[bool, str]:
    """(accepted, message). The nonce makes a double click one order, not two."""
    try:
        intent = parse_ticket(symbol, side, qty, order_type, limit)
    except TicketError as exc:
        return False, f"Not sent: {exc}."
    from dataclasses import replace

    intent = replace(intent, idempotency_key=f"ticket-{nonce}")
    ctx = get_context()
    result = gateway.submit(ctx, intent, actor=web_actor(), origin="manual", limits=risk_limits(ctx))
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
    """The shared position sizing's answer for the ticket (ATR risk, Kelly cap, regime bias, limits)."""
    from engine.params.versions import active_params
    from engine.planner.service import Sizer

    sym = (symbol or "").strip().upper()
    if not sym:
        return None, "Enter a symbol to size."
    try:
        side_ = OrderSide(side or "")
    except ValueError:
        return None, "Choose buy or sell to size."
    with get_context().store.read() as session:
        result = Sizer.build(session, active_params(session)).size(sym, side_)
    notes = "; ".join(result.notes)
    if result.qty <= 0:
        return None, f"No size for {side_.value} {sym}: {notes}"
    return int(result.qty), f"Suggested {result.qty} shares (bound by {result.binding}): {notes}"
