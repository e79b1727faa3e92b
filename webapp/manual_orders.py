"""The Trading page's manual order ticket: validate the form, then one call to the order gateway
(origin "manual"), so a manual order passes the same trading-state and risk checks as the planner's."""
from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from engine.market.exchange import calendar_for_settings
from engine.params.versions import active_params
from engine.trading import gateway, instruments
from engine.trading.brokers.base import OrderSide, OrderType
from engine.trading.ticket_size import ticket_size
from webapp import trading_queries
from webapp.context import get_context
from webapp.control_actions import web_actor
from webapp.typed_numbers import blank, typed_decimal, uses_exponent


class TicketError(ValueError):
    """The form is incomplete or malformed; nothing was sent."""


SYMBOL_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9.\-]{0,15}$")
MAX_QTY = Decimal(10_000_000)
MAX_PRICE = Decimal(10_000_000)


QTY_RANGE = f"a whole number of shares from 1 to {MAX_QTY:,}"
PRICE_RANGE = f"a price above 0 and at most {MAX_PRICE:,}"
DIGITS_EXAMPLE = {"quantity": "1000 or 1,000", "limit price": "101.50 or 1,250.00"}


def _number(value: Any, what: str, expected: str) -> tuple[Decimal, str]:
    """(number, what was typed) for a ticket field. The fields are text, so the browser sends what was typed
    (0, -5, 1.5, abc) and the message can quote it; a non-finite or non-numeric value is refused here."""
    text = value.strip() if isinstance(value, str) else str(value)
    shown = text if len(text) <= 32 else text[:32] + "…"
    if uses_exponent(value, max_len=32):
        raise TicketError(f"{what} {shown!r} is in exponent notation; type the {what} as digits, "
                          f"e.g. {DIGITS_EXAMPLE[what]}")
    number = typed_decimal(value, max_len=32, allow_exponent=False)
    if not number.is_finite():
        raise TicketError(f"{what} {shown!r} is not a number; enter {expected}")
    return number, shown


def parse_ticket(symbol: Any, side: Any, qty: Any, order_type: Any, limit: Any) -> gateway.OrderIntent:
    """The ticket's form values -> an order intent, or a TicketError saying which field is wrong and why
    (quoting what was typed), so nothing malformed reaches the gateway."""
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
    if type_ is OrderType.MARKET and not blank(limit):
        raise TicketError("a limit price was typed for a market order: choose Limit or clear the price")
    if blank(qty):
        raise TicketError(f"enter a quantity ({QTY_RANGE})")
    quantity, shown = _number(qty, "quantity", QTY_RANGE)
    if quantity <= 0:
        raise TicketError(f"quantity {shown} is not positive; enter {QTY_RANGE}")
    if quantity != quantity.to_integral_value():
        raise TicketError(f"quantity {shown} is not a whole number of shares; enter {QTY_RANGE}")
    if quantity > MAX_QTY:
        raise TicketError(f"quantity {shown} is above the maximum of {MAX_QTY:,} shares; enter {QTY_RANGE}")
    quantity = Decimal(int(quantity))  # 1,000 and 1000.0 are the order for 1000 shares ("1e3" is refused above)
    price = None
    if type_ is OrderType.LIMIT:
        if blank(limit):
            raise TicketError(f"a limit order needs a limit price ({PRICE_RANGE})")
        price, shown = _number(limit, "limit price", PRICE_RANGE)
        if price <= 0:
            raise TicketError(f"limit price {shown} is not positive; enter {PRICE_RANGE}")
        if price > MAX_PRICE:
            raise TicketError(f"limit price {shown} is above the maximum of {MAX_PRICE:,}; enter {PRICE_RANGE}")
        price = Decimal(format(price, "f"))  # a number sent as 1e2 (not typed text) is the price 100, not 1E+2
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
    if (refusal := not_tradable(ctx, intent.symbol)) is not None:  # the gateway refuses it too; say so at once
        return False, f"Not sent: {refusal}."
    # no limits passed: the gateway reads the active version's in the order's transaction (one version per order)
    result = gateway.submit(ctx, intent, actor=web_actor(), origin="manual")
    trading_queries.forget()
    if result.duplicate:
        return result.accepted, already_submitted(intent, result)
    what = f"{intent.side.value} {intent.qty} {intent.symbol}" + (
        f" limit {intent.limit_price}" if intent.limit_price is not None else " at market")
    if not result.accepted:
        return False, f"Rejected: {what}: {result.reason}"
    extra = f" — {result.reason}" if result.reason else ""
    return True, f"Sent: {what}, status {result.status.value} ({result.client_order_id}){extra}."


def _plain(number: Decimal) -> str:
    """A stored 100.00000000 (PostgreSQL's scale) reads 100, 101.50000000 reads 101.5."""
    text = format(number, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def describe_order(side: str, qty: Decimal, symbol: str, limit: Decimal | None) -> str:
    """'buy 100 AAPL at market' / 'sell 5 SPY limit 101.5': one wording for the form and for a stored order."""
    return f"{side} {_plain(qty)} {symbol}" + (f" limit {_plain(limit)}" if limit is not None else " at market")


def already_submitted(intent: gateway.OrderIntent, result: gateway.GatewayResult) -> str:
    """A retry with the same nonce sends nothing: describe the order that was sent (read from the store), not the
    form, which the trader may have edited since (a buy 100 retried as buy 10 is still the buy 100)."""
    form = describe_order(intent.side.value, intent.qty, intent.symbol, intent.limit_price)
    stored = trading_queries.read_order(result.client_order_id)
    if stored is None:  # not expected: the gateway just found it; still never describe the form as sent
        return (f"Already submitted ({result.client_order_id}), status {result.status.value}; nothing new was sent "
                f"(the form's {form} was NOT sent).")
    sent = describe_order(stored["side"], stored["qty"], stored["symbol"], stored["limit_price"])
    message = f"Already submitted: {sent} is {stored['status']} ({result.client_order_id}); nothing new was sent."
    same = (stored["side"], Decimal(stored["qty"]), stored["symbol"], stored["order_type"], stored["limit_price"]) == (
        intent.side.value, intent.qty, intent.symbol, intent.order_type.value, intent.limit_price)
    if not same:
        message += (f" The form now says {form}, which differs from the order sent; it was NOT sent. "
                    "Submit again to send it as a separate new order.")
    return message


def not_tradable(ctx: Any, symbol: str) -> str | None:
    """Why the ticket must not send an order for `symbol` at all (an index), as the gateway would say it."""
    with ctx.store.read() as session:
        return instruments.refusal_for_symbol(session, symbol, instruments.source_index_symbol(ctx),
                                              instruments.index_is_tradable(ctx))


def suggest_ticket_size(symbol: Any, side: Any) -> tuple[int | None, str]:
    """The shared sizing's answer for the ticket (ATR risk, Kelly cap, regime bias, every gateway limit, cash).
    A forged symbol that is not text (a list, a number) is named, not failed on."""
    if symbol is not None and not isinstance(symbol, str):
        return None, "The Symbol box must hold text (a ticker such as AAPL); enter the symbol again to size."
    sym = (symbol or "").strip().upper()
    if not sym:
        return None, "Enter a symbol to size."
    try:
        side_ = OrderSide(side or "")
    except ValueError:
        return None, "Choose buy or sell to size."
    ctx = get_context()
    if (refusal := not_tradable(ctx, sym)) is not None:
        return None, f"No size for {side_.value} {sym}: {refusal}."
    with ctx.store.read() as session:
        # the ATR of the configured source's regular session (Alpaca: XNYS), as the engine's sizing reads it
        result = ticket_size(session, active_params(session), sym, side_, calendar_for_settings(ctx.settings, None))
    notes = "; ".join(result.notes)
    if result.qty <= 0:
        return None, f"No size for {side_.value} {sym}: {notes}"
    return int(result.qty), f"Suggested {int(result.qty):,} shares (bound by {result.binding}): {notes}"
