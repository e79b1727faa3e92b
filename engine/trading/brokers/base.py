"""The broker protocol every adapter implements, and the records that cross it.

Money and quantities are Decimal at this boundary. Every order carries a client order id
chosen by the gateway, so a retried submission can be recognised by the broker.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable


class OrderSide(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    # RegimeDesk sends market and limit orders, and stop / trailing-stop orders only as a broker-side
    # protective exit (engine/execution/native_stops.py); orders placed elsewhere on the account are
    # read back as what they are, never as MARKET.
    STOP = "stop"
    STOP_LIMIT = "stop_limit"
    TRAILING_STOP = "trailing_stop"


class OrderStatus(StrEnum):
    PENDING_NEW = "pending_new"  # stored by the gateway, not yet acknowledged by the broker
    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def is_open(self) -> bool:
        return self in (OrderStatus.PENDING_NEW, OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)


@dataclass(frozen=True, slots=True)
class OrderRequest:
    client_order_id: str
    symbol: str
    side: OrderSide
    qty: Decimal
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    time_in_force: str = "day"
    stop_price: Decimal | None = None  # a STOP order's trigger price
    trail_percent: Decimal | None = None  # a TRAILING_STOP order's trail, percent of the high-water mark


@dataclass(frozen=True, slots=True)
class BrokerOrder:
    broker_order_id: str
    client_order_id: str
    symbol: str
    side: OrderSide
    qty: Decimal
    order_type: OrderType
    limit_price: Decimal | None
    status: OrderStatus
    filled_qty: Decimal
    filled_avg_price: Decimal | None
    submitted_at: datetime
    updated_at: datetime
    reject_reason: str | None = None
    # a dollar-amount order (Alpaca's notional): its share quantity is unknown until it fills, so qty is the
    # filled quantity and the store estimates the open rest from the last price (engine/trading/notional.py)
    notional: Decimal | None = None


@dataclass(frozen=True, slots=True)
class BrokerFill:
    broker_order_id: str
    client_order_id: str
    symbol: str
    side: OrderSide
    qty: Decimal
    price: Decimal
    commission: Decimal
    ts: datetime
    fill_id: str = ""  # the broker's execution id when it has one: makes the store's fill_key unique


@dataclass(frozen=True, slots=True)
class BrokerPosition:
    symbol: str
    qty: Decimal  # signed: negative is short
    avg_entry_price: Decimal
    market_price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class BrokerAccount:
    cash: Decimal
    equity: Decimal
    buying_power: Decimal
    currency: str = "USD"
    # The broker's account flags; the defaults are permissive (the paper broker has no such restrictions).
    # Alpaca refuses orders to a blocked or inactive account and short sales without shorting_enabled; its
    # pattern-day-trader protection may refuse a same-day exit under $25,000 equity (engine/trading/account_flags.py).
    status: str = "ACTIVE"
    trading_blocked: bool = False
    account_blocked: bool = False
    trade_suspended_by_user: bool = False
    pattern_day_trader: bool = False
    daytrade_count: int = 0
    shorting_enabled: bool = True
    last_equity: Decimal | None = None  # the equity at the previous trading day's close, when the broker gives it


@dataclass(frozen=True, slots=True)
class BrokerCashFlow:
    """Money moved into (+) or out of (-) the account that is not trading P&L: a deposit, a withdrawal, a cash
    journal. The sync records each once (by activity_id) so equity changes it causes are not read as P&L."""

    activity_id: str
    kind: str  # the broker's activity type (Alpaca: CSD, CSW, JNLC)
    amount: Decimal  # signed: + into the account, - out of it
    occurred_at: datetime  # when the broker dates it (a date's start when it gives only a date)
    description: str = ""


@dataclass(frozen=True, slots=True)
class CancelResult:
    broker_order_id: str
    ok: bool
    message: str = ""


class BrokerError(Exception):
    """The broker refused or failed; message says what, for which order, and what to do."""


class OrderRejected(BrokerError):
    """The broker rejected an order (bad symbol, insufficient buying power...)."""


class BrokerUnavailable(BrokerError):
    """The broker could not be reached (network, 5xx, circuit open). Safe to retry idempotent calls."""


class BrokerNotSent(BrokerUnavailable):
    """Nothing was sent to the broker (no time or request budget left, circuit open): the outcome is certain."""


class Broker(Protocol):
    name: str

    def get_account(self) -> BrokerAccount: ...

    def get_positions(self) -> list[BrokerPosition]: ...

    def submit_order(self, request: OrderRequest) -> BrokerOrder:
        """Submit once. On an ambiguous failure the caller looks the order up by client id."""
        ...

    def get_order_by_client_id(self, client_order_id: str) -> BrokerOrder | None: ...

    def list_open_orders(self) -> list[BrokerOrder]: ...

    def list_orders_since(self, since: datetime) -> list[BrokerOrder]:
        """Orders updated since a time, open or closed: how fills reach the store."""
        ...

    def fills_since(self, since: datetime) -> list[BrokerFill]: ...

    def cancel_order(self, broker_order_id: str) -> None: ...

    def cancel_all_orders(self) -> list[CancelResult]: ...

    def close_all_positions(self) -> list[BrokerOrder]: ...

    def is_market_open(self) -> bool: ...


@runtime_checkable
class ReadsBooksAtOnce(Protocol):
    """A broker that answers the account sync's four questions from one read of its books (the paper broker, whose
    books are in the store); the sync asks a broker without it (Alpaca: four requests) one question at a time."""

    def books_since(self, since: datetime) -> tuple[BrokerAccount, list[BrokerPosition], list[BrokerOrder],
                                                    list[BrokerFill]]:
        """get_account(), get_positions(), list_orders_since(since) and fills_since(since), consistent together."""
        ...


@runtime_checkable
class ReadsCashFlows(Protocol):
    """A broker that reports deposits and withdrawals (Alpaca); one without (the paper broker) has no cash flows,
    and cash_flows_of answers None for it."""

    def cash_flows_since(self, since: datetime | None) -> list[BrokerCashFlow]:
        """Cash flows dated at or after ``since`` (None: all the broker keeps), oldest first."""
        ...


def cash_flows_of(broker: object, since: datetime | None) -> list[BrokerCashFlow] | None:
    """The broker's cash flows since ``since``; None for a broker that has none (the default for every broker)."""
    return broker.cash_flows_since(since) if isinstance(broker, ReadsCashFlows) else None
