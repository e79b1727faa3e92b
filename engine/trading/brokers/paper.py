"""The paper broker: a broker whose books live in the store (paper_* tables).

Because every fact is in the database, a restart continues where it stopped, and the web
process can cancel or flatten through it while the engine is down. Orders fill against the
bars the market job stores (process_bars), capped by a share of each bar's volume, so big
orders go partially_filled across bars like at a real venue.

The fill simulation lives in paper_fills.py, the exchange-session (DAY order) rules in paper_sessions.py.
"""
from __future__ import annotations

import logging
import math
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.market.types import Bar
from engine.settings import Settings
from engine.store.db import Store
from engine.store.models import Instrument, PaperAccount, PaperOrder, PaperPosition
from engine.trading.brokers import paper_queries as Q
from engine.trading.brokers.base import (
    BrokerAccount,
    BrokerError,
    BrokerFill,
    BrokerOrder,
    BrokerPosition,
    CancelResult,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
)
from engine.trading.brokers.paper_books import ZERO, money, resting_reserve, signed
from engine.trading.brokers.paper_fills import bars_by_symbol, fill_time, match_orders
from engine.trading.brokers.paper_rows import fill_record, order_record, resting_legs
from engine.trading.brokers.paper_sessions import OPEN, expire_day_orders, session_reason
from engine.trading.marks import latest_closes, valid_price

__all__ = ["LEVERAGE", "OPEN", "PaperBroker", "fill_time"]  # OPEN, fill_time: re-exported (paper_sessions, paper_fills)

log = logging.getLogger(__name__)

LEVERAGE = Decimal(2)  # buying power = equity x 2 - gross exposure (Reg-T style)


def _adds_shares(pos: Decimal, mine: list[tuple[Decimal, Decimal]], qty: Decimal) -> bool:
    """Whether an order of signed `qty` can add shares to `pos` beside the symbol's resting legs (each at a unit
    price, so the count is in shares): an order that only takes a position down is let through without a price."""
    unit = [(q, Decimal(1)) for q, _ref in mine]
    return resting_reserve(pos, [*unit, (qty, Decimal(1))]) > resting_reserve(pos, unit)


class PaperBroker:
    """Broker protocol over the paper_* tables; rejected orders are stored and returned with a reason."""

    name = "paper"

    def __init__(self, store: Store, clock: Clock, starting_cash: Decimal | float = Decimal(1_000_000),
                 slippage_bps: Decimal | float = Decimal(2), commission_per_share: Decimal | float = Decimal("0.005"),
                 participation: Decimal | float = Decimal("0.25"), *, calendar: Any = None,
                 extended_hours: bool = False) -> None:
        """``calendar``: a MarketCalendar with an exchange (the Alpaca source's XNYS) makes the paper broker keep
        the same session as Alpaca: orders only while the session is open (limit orders from 04:00 to close + 4 h with
        ``extended_hours``), and every order is a DAY order that expires at its session's close. Without an
        exchange (the simulated market trades every minute) there are no sessions.

        ``clock``: the market clock (engine/market/market_clock.py), so orders, cancels and fills carry the
        market's time: the simulated market's when it runs accelerated, the wall clock with Alpaca."""
        self._store = store
        self._clock = clock
        self.calendar = calendar if calendar is not None and getattr(calendar, "exchange", None) else None
        self.extended_hours = extended_hours
        self.starting_cash = Decimal(str(starting_cash))
        self.slippage_bps = Decimal(str(slippage_bps))
        self.commission_per_share = Decimal(str(commission_per_share))
        self.participation = Decimal(str(participation))

    @classmethod
    def from_settings(cls, store: Store, clock: Clock, settings: Settings) -> PaperBroker:
        return cls(store, clock, settings.paper_starting_cash, settings.paper_slippage_bps,
                   settings.paper_commission_per_share, settings.paper_participation)

    # -- books -------------------------------------------------------------------------------
    def _account(self, s: Session, write: bool = True) -> PaperAccount:
        """The account row (locked on PostgreSQL); created on first write, a fresh unsaved one for reads."""
        locked = write and s.bind is not None and s.bind.dialect.name == "postgresql"
        acct = s.scalars(Q.ACCOUNT_LOCKED if locked else Q.ACCOUNT).one_or_none()
        if acct is None:
            acct = PaperAccount(id=1, cash=self.starting_cash, realized_pnl=ZERO, commissions=ZERO,
                                updated_at=self._clock.now())
            if write:
                s.add(acct)
                s.flush()
        return acct

    def _valuation(self, s: Session, closes: dict[str, tuple[Decimal, datetime]] | None = None, write: bool = True,
                   positions: list[PaperPosition] | None = None) -> tuple[Decimal, Decimal, Decimal, dict[str, Decimal]]:
        """cash, equity (marked to the last close), gross exposure, and the marks used; `positions`: every
        position row, when the caller has read them already."""
        acct = self._account(s, write)
        if positions is None:
            positions = list(s.scalars(Q.POSITIONS))
        if closes is None:
            closes = latest_closes(s, [p.symbol for p in positions])
        marks = {p.symbol: closes[p.symbol][0] if p.symbol in closes else p.avg_entry_price for p in positions}
        market_value = sum((p.qty * marks[p.symbol] for p in positions), ZERO)
        gross = sum((abs(p.qty) * marks[p.symbol] for p in positions), ZERO)
        return acct.cash, money(acct.cash + market_value), money(gross), marks

    def _reject_reason(self, s: Session, req: OrderRequest) -> str | None:
        if req.qty <= 0:
            return f"quantity must be positive (got {req.qty} for {req.symbol})"
        if req.order_type is OrderType.LIMIT and (req.limit_price is None or req.limit_price <= 0):
            return f"limit order for {req.symbol} needs a positive limit price"
        rows = list(s.scalars(Q.POSITIONS))  # read once: the valuation below marks the same rows
        position = {p.symbol: p.qty for p in rows}
        open_orders = s.execute(Q.OPEN_ORDER_LEGS).all()
        closes = latest_closes(s, set(position) | {o.symbol for o in open_orders} | {req.symbol})
        last = closes.get(req.symbol)
        if last is None:
            if s.get(Instrument, req.symbol) is None:
                return f"unknown symbol {req.symbol}: the paper broker has no such instrument"
            return f"no price yet for {req.symbol}: wait for the first bar before trading it"
        ref = req.limit_price if req.order_type is OrderType.LIMIT and req.limit_price else last[0]
        _cash, equity, gross, _marks = self._valuation(s, closes, positions=rows)
        legs = resting_legs(open_orders, closes)  # each symbol is its position plus all its resting orders
        reserved = sum((resting_reserve(position.get(sym, ZERO), mine) for sym, mine in legs.items()), ZERO)
        pos, mine = position.get(req.symbol, ZERO), legs.get(req.symbol, [])
        if not valid_price(last[0]) and _adds_shares(pos, mine, signed(req.side, req.qty)):
            return (f"no valid price for {req.symbol}: its last close is {last[0]} (at {last[1].isoformat()}); "
                    "buying power cannot be checked, wait for a bar with a positive price")
        increase = resting_reserve(pos, [*mine, (signed(req.side, req.qty), ref)]) - resting_reserve(pos, mine)
        buying_power = equity * LEVERAGE - gross - reserved
        if increase > buying_power:
            return (f"insufficient buying power for {req.side} {req.qty} {req.symbol}: needs {money(increase)}, "
                    f"available {money(max(buying_power, ZERO))}; reduce the quantity")
        return None

    # -- orders --------------------------------------------------------------------------------
    def submit_order(self, request: OrderRequest) -> BrokerOrder:
        """Accept (status new) or reject (status rejected, with a reason); a known client id returns the existing order."""
        try:
            with self._store.write() as s:
                existing = s.scalars(Q.ORDER_BY_COID, {"coid": request.client_order_id}).one_or_none()
                if existing is not None:
                    return order_record(existing)
                now = self._clock.now()
                reason = session_reason(self.calendar, self.extended_hours, request, now) or self._reject_reason(s, request)
                row = PaperOrder(
                    broker_order_id=f"paper-{uuid.uuid4().hex}", client_order_id=request.client_order_id,
                    symbol=request.symbol, side=OrderSide(request.side).value, qty=request.qty,
                    order_type=OrderType(request.order_type).value, limit_price=request.limit_price,
                    status=(OrderStatus.REJECTED if reason else OrderStatus.NEW).value, filled_qty=ZERO,
                    filled_avg_price=None, reject_reason=reason, submitted_at=now, updated_at=now,
                )
                s.add(row)
                s.flush()
                return order_record(row)
        except IntegrityError:  # the same client id raced in from another process: return that one
            found = self.get_order_by_client_id(request.client_order_id)
            if found is None:
                raise
            return found

    def get_order_by_client_id(self, client_order_id: str) -> BrokerOrder | None:
        with self._store.read() as s:
            row = s.scalars(Q.ORDER_BY_COID, {"coid": client_order_id}).one_or_none()
            return order_record(row) if row else None

    def list_open_orders(self) -> list[BrokerOrder]:
        with self._store.read() as s:
            rows = s.scalars(Q.OPEN_ORDERS)
            return [order_record(r) for r in rows]

    def list_orders_since(self, since: datetime) -> list[BrokerOrder]:
        with self._store.read() as s:
            rows = s.scalars(Q.ORDERS_SINCE, {"since": since})
            return [order_record(r) for r in rows]

    def fills_since(self, since: datetime) -> list[BrokerFill]:
        with self._store.read() as s:
            return [fill_record(r) for r in s.scalars(Q.FILLS_SINCE, {"since": since})]

    def cancel_order(self, broker_order_id: str) -> None:
        with self._store.write() as s:
            row = s.get(PaperOrder, broker_order_id)
            if row is None:
                raise BrokerError(f"paper order {broker_order_id} does not exist; refresh the order list")
            if row.status not in OPEN:
                raise BrokerError(f"paper order {broker_order_id} ({row.symbol}) is {row.status} and cannot be canceled")
            row.status, row.updated_at = OrderStatus.CANCELED.value, self._clock.now()

    def cancel_all_orders(self) -> list[CancelResult]:
        """Cancel every open order in one transaction (the kill switch's hot path)."""
        with self._store.write() as s:
            return self._cancel_all(s)

    def _cancel_all(self, s: Session) -> list[CancelResult]:
        ids = list(s.scalars(select(PaperOrder.broker_order_id).where(PaperOrder.status.in_(OPEN))))
        if ids:
            s.execute(
                update(PaperOrder)
                .where(PaperOrder.broker_order_id.in_(ids), PaperOrder.status.in_(OPEN))
                .values(status=OrderStatus.CANCELED.value, updated_at=self._clock.now())
            )
        return [CancelResult(broker_order_id=i, ok=True, message="canceled") for i in ids]

    def close_all_positions(self) -> list[BrokerOrder]:
        """Cancel open orders, then send a market order to flatten each position (like Alpaca's cancel_orders=true)."""
        now = self._clock.now()
        with self._store.write() as s:
            self._cancel_all(s)
            rows = []
            for pos in s.scalars(select(PaperPosition).where(PaperPosition.qty != ZERO)):
                side = OrderSide.SELL if pos.qty > 0 else OrderSide.BUY
                row = PaperOrder(
                    broker_order_id=f"paper-{uuid.uuid4().hex}", client_order_id=f"paper-close-{uuid.uuid4().hex[:24]}",
                    symbol=pos.symbol, side=side.value, qty=abs(pos.qty), order_type=OrderType.MARKET.value,
                    limit_price=None, status=OrderStatus.NEW.value, filled_qty=ZERO, filled_avg_price=None,
                    reject_reason=None, submitted_at=now, updated_at=now,
                )
                s.add(row)
                rows.append(row)
            s.flush()
            return [order_record(r) for r in rows]

    # -- account -------------------------------------------------------------------------------
    def get_account(self) -> BrokerAccount:
        with self._store.read() as s:  # a read: the web polls this and must not queue behind the engine's writes
            return _account_record(*self._valuation(s, write=False)[:3])

    def books_since(self, since: datetime) -> tuple[BrokerAccount, list[BrokerPosition], list[BrokerOrder],
                                                    list[BrokerFill]]:
        """get_account(), get_positions(), list_orders_since(since) and fills_since(since) from one read of the
        books: sync asks for all four every cycle, and get_account and get_positions read the same position rows
        and closes (four transactions, two of them repeated reads, cost more than the statements)."""
        with self._store.read() as s:
            rows = list(s.scalars(Q.POSITIONS))
            closes = latest_closes(s, [p.symbol for p in rows])
            account = _account_record(*self._valuation(s, closes, write=False, positions=rows)[:3])
            held = sorted((p for p in rows if p.qty != ZERO), key=lambda p: p.symbol)  # get_positions's rows (HELD)
            positions = [BrokerPosition(p.symbol, p.qty, p.avg_entry_price,
                                        closes[p.symbol][0] if p.symbol in closes else None) for p in held]
            orders = [order_record(r) for r in s.scalars(Q.ORDERS_SINCE, {"since": since})]
            fills = [fill_record(r) for r in s.scalars(Q.FILLS_SINCE, {"since": since})]
            return account, positions, orders, fills

    def get_positions(self) -> list[BrokerPosition]:
        with self._store.read() as s:
            positions = list(s.scalars(Q.HELD))
            closes = latest_closes(s, [p.symbol for p in positions])
            return [BrokerPosition(p.symbol, p.qty, p.avg_entry_price, closes[p.symbol][0] if p.symbol in closes else None)
                    for p in positions]

    def realized_pnl(self) -> tuple[Decimal, Decimal]:
        """(realized P&L before commissions, commissions paid) since the account opened."""
        with self._store.read() as s:
            acct = self._account(s, write=False)
            return acct.realized_pnl, acct.commissions

    def is_market_open(self) -> bool:
        return self.calendar is None or bool(self.calendar.is_regular_open(self._clock.now()))

    def accepts_orders_now(self, order_type: OrderType | None = None) -> bool:
        """For the planner: may an order of ``order_type`` go out now? The planner names the type it sends (a
        limit probe passed its market orders in extended hours); None: limit with extended hours, else market."""
        kind = order_type or (OrderType.LIMIT if self.extended_hours else OrderType.MARKET)
        return session_reason(self.calendar, self.extended_hours,
                              OrderRequest("probe", "X", OrderSide.BUY, Decimal(1), kind, Decimal(1)),
                              self._clock.now()) is None

    # -- matching ------------------------------------------------------------------------------
    def process_bars(self, bars: list[Bar]) -> list[BrokerFill]:
        """Expire DAY orders past their session's close (with an exchange calendar), then fill open orders
        against newly stored bars; returns the fills made, in order."""
        try:
            return self._match_bars(bars)
        finally:
            if self.calendar is not None:  # after the close no bars come: expiry cannot wait for one
                with self._store.write() as s:
                    expire_day_orders(s, self.calendar, self._clock.now())

    def _match_bars(self, bars: list[Bar]) -> list[BrokerFill]:
        # a bar with a price of 0 or NaN (a bad print the market job does not store) never fills an order
        bars = [b for b in bars if all(math.isfinite(float(x)) and float(x) > 0 for x in (b.open, b.high, b.low, b.close))]
        if not bars:
            return []
        by_symbol = bars_by_symbol(bars)
        with self._store.write() as s:
            orders = list(s.scalars(Q.MATCHABLE, {"symbols": list(by_symbol)}))
            if not orders:
                return []
            acct = self._account(s)
            positions = {p.symbol: p for p in s.scalars(Q.POSITIONS_OF, {"symbols": list(by_symbol)})}
            fills = match_orders(s, acct, positions, orders, by_symbol, calendar=self.calendar,
                                 participation=self.participation, slippage_bps=self.slippage_bps,
                                 commission_per_share=self.commission_per_share)
            s.flush()
            return [fill_record(f) for f in fills]


def _account_record(cash: Decimal, equity: Decimal, gross: Decimal) -> BrokerAccount:
    """The account as the Broker protocol reports it: buying power = equity x LEVERAGE - gross exposure."""
    return BrokerAccount(cash=money(cash), equity=equity, buying_power=money(max(equity * LEVERAGE - gross, ZERO)))
