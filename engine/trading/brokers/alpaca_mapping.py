"""Translation between alpaca-py models and the broker contract's dataclasses.

Alpaca sends quantities and prices as strings or floats; everything crossing into the
engine becomes Decimal via ``Decimal(str(x))`` so no binary float noise reaches the store.
"""
from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from alpaca.trading import enums as ae
from alpaca.trading.models import Order as AlpacaOrder
from alpaca.trading.models import Position as AlpacaPosition
from alpaca.trading.models import TradeAccount
from alpaca.trading.requests import (
    LimitOrderRequest,
    MarketOrderRequest,
    StopOrderRequest,
    TrailingStopOrderRequest,
)

from engine.trading.brokers.base import (
    BrokerAccount,
    BrokerError,
    BrokerFill,
    BrokerOrder,
    BrokerPosition,
    OrderRejected,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
)

# Alpaca has many intermediate states; the engine only needs open / filled / terminal.
_STATUS = {
    "new": OrderStatus.NEW,
    "accepted": OrderStatus.NEW,
    "pending_new": OrderStatus.NEW,
    "accepted_for_bidding": OrderStatus.NEW,
    "pending_review": OrderStatus.NEW,
    "held": OrderStatus.NEW,
    "calculated": OrderStatus.NEW,
    "stopped": OrderStatus.NEW,
    "suspended": OrderStatus.NEW,
    "pending_cancel": OrderStatus.NEW,
    "pending_replace": OrderStatus.NEW,
    "done_for_day": OrderStatus.NEW,
    "partially_filled": OrderStatus.PARTIALLY_FILLED,
    "filled": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "replaced": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
}


def dec(x: Any) -> Decimal | None:
    """Decimal from Alpaca's str/float numbers; None stays None."""
    if x is None or x == "":
        return None
    return Decimal(str(x))


def _value(x: Any) -> str:
    return str(getattr(x, "value", x))


def _utc(ts: datetime | None) -> datetime:
    if ts is None:
        return datetime.now(UTC)
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def to_order_status(status: Any) -> OrderStatus:
    return _STATUS.get(_value(status), OrderStatus.NEW)


_ORDER_TYPES = {t.value: t for t in OrderType}


def to_order_type(kind: Any) -> OrderType:
    """Alpaca's order type as is (stop, stop_limit, trailing_stop included); unknown types read as market."""
    return _ORDER_TYPES.get(_value(kind or "market").lower(), OrderType.MARKET)


def filled_price(avg: Any, filled_qty: Decimal) -> Decimal | None:
    """filled_avg_price, with Alpaca's 0 (or any price) for an order that has not filled read as "none yet"."""
    price = dec(avg)
    return None if price is None or filled_qty <= 0 or price <= 0 else price


def to_broker_order(o: AlpacaOrder) -> BrokerOrder:
    status = to_order_status(o.status)
    limit_price = dec(o.limit_price)
    filled_qty = dec(o.filled_qty) or Decimal(0)
    qty, notional = dec(o.qty), dec(getattr(o, "notional", None))
    if qty is None and notional is not None:  # a dollar-amount order: shares known only as they fill
        qty = filled_qty
    return BrokerOrder(
        broker_order_id=str(o.id),
        client_order_id=o.client_order_id,
        symbol=o.symbol or "",
        side=OrderSide(_value(o.side or "buy")),
        qty=qty or Decimal(0),
        order_type=to_order_type(o.order_type or o.type),
        limit_price=limit_price,
        status=status,
        filled_qty=filled_qty,
        filled_avg_price=filled_price(o.filled_avg_price, filled_qty),
        submitted_at=_utc(o.submitted_at or o.created_at),
        updated_at=_utc(o.updated_at),
        reject_reason="rejected by Alpaca" if status is OrderStatus.REJECTED else None,
        notional=notional,
    )


def activity_to_fill(a: dict[str, Any], client_order_id: str) -> BrokerFill:
    """One execution from a FILL account activity (raw JSON: the SDK has no model for it)."""
    try:
        side = str(a["side"]).lower()
        return BrokerFill(
            broker_order_id=str(a["order_id"]),
            client_order_id=client_order_id,
            symbol=str(a["symbol"]),
            side=OrderSide.BUY if side == "buy" else OrderSide.SELL,  # "sell_short" is a sell
            qty=Decimal(str(a["qty"])),
            price=Decimal(str(a["price"])),
            commission=Decimal(0),  # Alpaca equities are commission-free; regulatory fees are separate activities
            ts=activity_time(a),
            fill_id=str(a["id"]),
        )
    except (KeyError, ArithmeticError, ValueError) as exc:
        raise BrokerError(f"Alpaca sent a malformed fill activity ({type(exc).__name__}: {exc}).") from exc


def activity_time(a: dict[str, Any]) -> datetime:
    try:
        return _utc(datetime.fromisoformat(str(a["transaction_time"]).replace("Z", "+00:00")))
    except (KeyError, ValueError) as exc:
        raise BrokerError(f"Alpaca sent a fill activity without a valid transaction_time ({exc}).") from exc


def to_position(p: AlpacaPosition) -> BrokerPosition:
    qty = abs(dec(p.qty) or Decimal(0))
    if _value(p.side) == "short":
        qty = -qty
    return BrokerPosition(
        symbol=p.symbol,
        qty=qty,
        avg_entry_price=dec(p.avg_entry_price) or Decimal(0),
        market_price=dec(p.current_price),
    )


def _first(*values: Decimal | None) -> Decimal:
    """The first value Alpaca gave: an equity of 0 is a value (a wiped-out account), not a missing field."""
    return next((v for v in values if v is not None), Decimal(0))


def to_account(a: TradeAccount) -> BrokerAccount:
    """The balances and the flags that decide whether Alpaca takes an order at all; a flag Alpaca left out
    reads as the permissive default (as BrokerAccount's): Alpaca sends every one of them."""
    cash = _first(dec(a.cash))
    return BrokerAccount(
        cash=cash,
        equity=_first(dec(a.equity), dec(a.portfolio_value), cash),
        buying_power=_first(dec(a.buying_power)),
        currency=a.currency or "USD",
        status=_value(a.status).upper() if a.status is not None else "ACTIVE",
        trading_blocked=bool(a.trading_blocked),
        account_blocked=bool(a.account_blocked),
        trade_suspended_by_user=bool(a.trade_suspended_by_user),
        pattern_day_trader=bool(a.pattern_day_trader),
        daytrade_count=int(a.daytrade_count or 0),
        shorting_enabled=a.shorting_enabled is not False,
        last_equity=dec(a.last_equity),
    )


AlpacaRequest = MarketOrderRequest | LimitOrderRequest | StopOrderRequest | TrailingStopOrderRequest
_SENT_TYPES = (OrderType.MARKET, OrderType.LIMIT, OrderType.STOP, OrderType.TRAILING_STOP)


def _refuse(r: OrderRequest, why: str) -> OrderRejected:
    return OrderRejected(f"Order {r.client_order_id} for {r.symbol}: {why}")


def to_alpaca_request(r: OrderRequest, extended_hours: bool = False) -> AlpacaRequest:
    """Build alpaca-py's request; invalid requests are refused here, before anything is sent.

    ``extended_hours`` marks a limit DAY order for Alpaca's pre/after-market sessions (Alpaca accepts
    nothing else there); a market order with it is refused. Stop and trailing-stop orders are the
    broker-side protective exits; Alpaca takes trailing stops for whole shares only.
    """
    if r.order_type not in _SENT_TYPES:
        raise _refuse(r, f"RegimeDesk sends market, limit, stop and trailing-stop orders only (got {r.order_type.value}).")
    if extended_hours and (r.order_type is not OrderType.LIMIT or r.time_in_force.lower() != "day"):
        raise _refuse(r, "outside the regular session Alpaca accepts only limit orders with time in force DAY. "
                      "Use a limit order, or wait for the open.")
    if r.qty <= 0:
        raise _refuse(r, f"quantity must be positive (got {r.qty}).")
    try:
        tif = ae.TimeInForce(r.time_in_force.lower())
        common: dict[str, Any] = {
            "symbol": r.symbol,
            "qty": float(r.qty),
            "side": ae.OrderSide(r.side.value),
            "time_in_force": tif,
            "client_order_id": r.client_order_id,
        }
        if r.order_type is OrderType.LIMIT:
            if r.limit_price is None or r.limit_price <= 0:
                raise _refuse(r, "a limit order needs a positive limit price.")
            return LimitOrderRequest(limit_price=float(r.limit_price), extended_hours=extended_hours or None, **common)
        if r.order_type is OrderType.STOP:
            if r.stop_price is None or r.stop_price <= 0:
                raise _refuse(r, "a stop order needs a positive stop price.")
            return StopOrderRequest(stop_price=float(r.stop_price), **common)
        if r.order_type is OrderType.TRAILING_STOP:
            if r.trail_percent is None or not 0 < r.trail_percent < 100:
                raise _refuse(r, "a trailing stop needs a trail percent above 0 and below 100.")
            if r.qty != r.qty.to_integral_value():
                raise _refuse(r, f"Alpaca takes trailing stops for whole shares only (got {r.qty}).")
            return TrailingStopOrderRequest(trail_percent=float(r.trail_percent), **common)
        return MarketOrderRequest(**common)
    except ValueError as exc:  # pydantic ValidationError and bad enum values are ValueErrors
        raise OrderRejected(
            f"Order {r.client_order_id} for {r.symbol} is not valid for Alpaca: {exc}. Fix the order and resubmit."
        ) from exc
