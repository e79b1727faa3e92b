"""Alpaca broker adapter (alpaca-py TradingClient) with deadlines, a rate limit, a circuit breaker and safe retries.

Why it is careful: alpaca-py sets no HTTP timeout and retries 429/504 by itself, even for
``POST /v2/orders``. Here the SDK's retries are off; every call has ONE total deadline
(``deadline_s``, REGIMEDESK_ALPACA_ORDER_TIMEOUT_S) covering all its attempts and pages, takes its
requests from the key's shared rate limiter, is counted by a circuit breaker (alpaca_breaker; no lock across calls), and
idempotent calls (reads, cancels, lookups) are retried with backoff while time is left.

Order submission never duplicates an order, even when the answer is lost (alpaca_submit); the sync's
paged reads of orders and fills live in alpaca_history.

Sessions: Alpaca's clock decides when orders may be sent; outside the regular session only with
extended hours configured, and then only limit DAY orders from 04:00 New York time to 4 h after the
close (20:00, 17:00 on an early close; MarketCalendar.extended_hours).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pybreaker
from alpaca.trading.client import TradingClient
from alpaca.trading.models import Order as AlpacaOrder

from engine.clock import Clock, SystemClock
from engine.market.exchange import EXTENDED_WORDS, MarketCalendar, alpaca_calendar
from engine.trading.brokers.alpaca_calls import AlpacaCircuitOpen, GuardedCaller
from engine.trading.brokers.alpaca_cash import cash_flows_since
from engine.trading.brokers.alpaca_history import AlpacaHistory
from engine.trading.brokers.alpaca_http import Failure, describe, harden_client, secret_value
from engine.trading.brokers.alpaca_limits import DEFAULT_PER_MINUTE, RateLimiter, limiter_for
from engine.trading.brokers.alpaca_mapping import to_account, to_broker_order, to_position
from engine.trading.brokers.alpaca_submit import OrderSubmitter
from engine.trading.brokers.base import (
    BrokerAccount,
    BrokerCashFlow,
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

log = logging.getLogger(__name__)
__all__ = ["AlpacaBroker", "AlpacaCircuitOpen", "build_alpaca_broker"]
LIVE_HOST = "api.alpaca.markets"
CLOCK_CACHE = timedelta(seconds=30)


class AlpacaBroker:
    """The Broker protocol over Alpaca's trading API (paper by default; live only with allow_live)."""

    name = "alpaca"
    native_stops = True  # takes stop / trailing-stop orders as protective exits (engine/execution/native_stops.py)

    def __init__(
        self,
        api_key: str,
        secret_key: str,
        paper: bool = True,
        url_override: str | None = None,
        timeout_s: float = 5.0,
        breaker: pybreaker.CircuitBreaker | None = None,
        *,
        allow_live: bool = False,
        retry_attempts: int = 3,
        retry_wait_s: float = 0.2,
        retry_max_wait_s: float = 2.0,
        sdk_retry_wait_s: float | None = None,
        sdk_retry_attempts: int | None = None,
        order_lookback: timedelta = timedelta(days=7),
        max_history: timedelta = timedelta(days=30),
        clock: Clock | None = None,
        deadline_s: float | None = None,
        limiter: RateLimiter | None = None,
        extended_hours: bool = False,
        enforce_session: bool = True,
        calendar: MarketCalendar | None = None,
    ) -> None:
        if not paper and not allow_live:
            raise BrokerError(
                "Alpaca live trading refused: the broker was asked for a live (real money) account without the "
                "explicit opt-in. Set REGIMEDESK_ALPACA_LIVE=1 with live keys, or use paper trading."
            )
        if paper and url_override and urlsplit(url_override).hostname == LIVE_HOST and not allow_live:
            raise BrokerError(
                f"Alpaca live trading refused: the URL override {url_override} is Alpaca's live (real money) "
                "endpoint but paper trading was requested. Use https://paper-api.alpaca.markets or opt in to live."
            )
        if not api_key or not secret_key:
            raise BrokerError("Alpaca broker: API key id and secret key are required (APCA_API_KEY_ID / APCA_API_SECRET_KEY).")
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        base = url_override.rstrip("/").removesuffix("/v2") if url_override else None
        self.paper = paper
        self.timeout_s = timeout_s
        self.host = base or ("paper-api.alpaca.markets" if paper else "api.alpaca.markets")
        self.deadline_s = float(deadline_s) if deadline_s is not None else max(2.0 * timeout_s, 1.0)
        self.limiter = limiter  # None: unlimited (tests); the build_* functions pass the key's shared limiter
        self.extended_hours = extended_hours
        self.enforce_session = enforce_session
        self.calendar = calendar or alpaca_calendar()
        self._clock_cache: tuple[datetime, Any] | None = None
        self._client = TradingClient(api_key, secret_key, paper=paper, url_override=base)
        harden_client(self._client, timeout_s, sdk_retry_wait_s, sdk_retry_attempts, limiter=self.limiter,
                      default_call_s=self.deadline_s)
        self._calls = GuardedCaller(self._where, breaker, retry_attempts, retry_wait_s, retry_max_wait_s,
                                    deadline_s=self.deadline_s)
        self._clock = clock or SystemClock()
        self.last_account: BrokerAccount | None = None  # the newest get_account(): the sync stores its flags
        self._history = AlpacaHistory(self._client, self._calls, self._where, self._clock, order_lookback, max_history)
        self._submitter = OrderSubmitter(self._client, self._calls, self._where, timeout_s, self.order_session,
                                         self._raw_order_by_client_id)

    def __repr__(self) -> str:  # never shows the keys
        return f"AlpacaBroker(host={self.host!r}, paper={self.paper}, breaker={self.breaker_state()!r})"

    # ---- health ----------------------------------------------------------------
    def breaker_state(self) -> str:
        """'closed' | 'open' | 'half-open' (pybreaker's own names), for health checks."""
        return self._calls.state()

    def rate_budget(self) -> dict[str, Any]:
        """The key's request budget in use (shared with the data clients), for the Health page and /metrics."""
        return self.limiter.snapshot() if self.limiter is not None else {}

    @property
    def breaker(self) -> pybreaker.CircuitBreaker:
        return self._calls.breaker

    def _where(self, op: str) -> str:
        return f"Alpaca {'paper' if self.paper else 'LIVE'} ({self.host}), {op}"

    # ---- reads -----------------------------------------------------------------------
    def get_account(self) -> BrokerAccount:
        self.last_account = to_account(self._calls.value("get account", self._calls.call("get account", self._client.get_account)))
        return self.last_account

    def get_positions(self) -> list[BrokerPosition]:
        rows = self._calls.value("get positions", self._calls.call("get positions", self._client.get_all_positions))
        return [to_position(p) for p in rows]

    def is_market_open(self) -> bool:
        return bool(self._market_clock(fresh=True).is_open)

    def _market_clock(self, fresh: bool = False) -> Any:
        """Alpaca's /v2/clock, reused for 30 s but never past the next open or close it announced."""
        now = self._clock.now()
        cached = self._clock_cache
        if not fresh and cached is not None:
            fetched, clk = cached
            boundary = clk.next_close if clk.is_open else clk.next_open
            if now - fetched < CLOCK_CACHE and (boundary is None or now < boundary.astimezone(UTC)):
                return clk
        clk = self._calls.value("get clock", self._calls.call("get clock", self._client.get_clock))
        self._clock_cache = (now, clk)
        return clk

    def order_session(self, order_type: OrderType = OrderType.MARKET) -> tuple[bool, bool, str]:
        """(may send now, as extended hours, why not): Alpaca's (cached) clock says open or closed; the engine's
        clock and the XNYS calendar decide the extended-hours window (04:00 to close + 4 h)."""
        if not self.enforce_session:
            return True, False, ""
        clk = self._market_clock()
        if clk.is_open:
            return True, False, ""
        nxt = clk.next_open.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if clk.next_open else "unknown"
        if not self.extended_hours:
            return False, False, (f"the market is closed (Alpaca's clock; next open {nxt}); orders are sent only during "
                                  "the regular session. Set REGIMEDESK_ALPACA_EXTENDED_HOURS=true to send limit orders "
                                  "before the open and after the close.")
        # the engine's clock, not the cached answer's timestamp (up to 30 s old): the window ends at close + 4 h sharp
        if not self.calendar.in_extended_hours(self._clock.now()):
            return False, False, (f"outside Alpaca's extended hours ({EXTENDED_WORDS}, New York time, on a trading "
                                  f"day); next open {nxt}.")
        if order_type is not OrderType.LIMIT:
            return False, True, "outside the regular session Alpaca accepts only limit orders (extended hours)."
        return True, True, ""

    def accepts_orders_now(self, order_type: OrderType | None = None) -> bool:
        """For the planner: may an order of ``order_type`` go out now? (False when unsure.) The planner names the
        type it will send: a limit probe said yes to its market orders in extended hours, and each was refused.
        None keeps the old question (limit with extended hours, else market) for other callers."""
        kind = order_type or (OrderType.LIMIT if self.extended_hours else OrderType.MARKET)
        try:
            ok, _, _ = self.order_session(kind)
        except BrokerError:
            return False
        return ok

    def get_order_by_client_id(self, client_order_id: str) -> BrokerOrder | None:
        raw = self._raw_order_by_client_id(client_order_id)
        return None if raw is None else to_broker_order(raw)

    def _raw_order_by_client_id(self, client_order_id: str) -> AlpacaOrder | None:
        op = f"look up order {client_order_id}"
        out = self._calls.call(op, lambda: self._client.get_order_by_client_id(client_order_id))
        if out.failure is Failure.NOT_FOUND:
            return None
        return self._calls.value(op, out)

    def list_open_orders(self) -> list[BrokerOrder]:
        return self._history.list_open_orders()

    def list_orders_since(self, since: datetime) -> list[BrokerOrder]:
        """Orders updated at or after ``since`` (see AlpacaHistory.list_orders_since for what is missed)."""
        return self._history.list_orders_since(since)

    def fills_since(self, since: datetime) -> list[BrokerFill]:
        """Per-execution fills at or after ``since`` from Alpaca's FILL account activities."""
        return self._history.fills_since(since)

    def cash_flows_since(self, since: datetime | None) -> list[BrokerCashFlow]:
        """Deposits, withdrawals and cash journals dated at or after ``since`` (alpaca_cash; ReadsCashFlows)."""
        return cash_flows_since(self._client, self._calls, self._where, since)

    def books_since(self, since: datetime) -> tuple[BrokerAccount, list[BrokerPosition], list[BrokerOrder],
                                                    list[BrokerFill]]:
        """The sync's four reads, the order window and the fills read once for both (ReadsBooksAtOnce)."""
        account, positions = self.get_account(), self.get_positions()
        orders, fills = self._history.orders_and_fills_since(since)
        return account, positions, orders, fills

    def fills_of_orders(self, orders: dict[str, str], since: datetime) -> list[BrokerFill]:
        """Fills since ``since`` of ``{broker order id: client order id}`` (engine/trading/order_checks.py)."""
        return self._history.fills_of_orders(orders, since)

    # ---- orders ----------------------------------------------------------------------
    def submit_order(self, request: OrderRequest) -> BrokerOrder:
        """Exactly once, even when the answer is lost (see alpaca_submit)."""
        return self._submitter.submit(request)

    def submit_checked(self, request: OrderRequest, refusal: Callable[[], str | None]) -> BrokerOrder:
        """submit_order, asking ``refusal`` right before the POST (the gateway re-reads the trading state there)."""
        return self._submitter.submit(request, refusal)

    def cancel_order(self, broker_order_id: str) -> None:
        op = f"cancel order {broker_order_id}"
        with self._calls.budget(op) as budget:
            out = self._calls.call(op, lambda: self._client.cancel_order_by_id(broker_order_id))
        if out.failure is Failure.NOT_FOUND:
            raise BrokerError(f"{self._where(op)}: Alpaca has no such order; refresh the order list.")
        if out.failure is Failure.REJECTED and out.error is not None:
            self._refused_cancel(op, broker_order_id, describe(out.error), retried=budget.sent > 1)
            return
        self._calls.value(op, out)

    def _refused_cancel(self, op: str, broker_order_id: str, detail: str, retried: bool) -> None:
        """Alpaca refused the cancel: read the order to say why. A cancel whose answer was lost (504, dropped
        connection) is retried, and the retry is refused because the first attempt canceled it: success."""
        try:
            order = to_broker_order(self._calls.get(f"read order {broker_order_id}",
                                                    lambda: self._client.get_order_by_id(broker_order_id)))
        except BrokerError as exc:
            raise BrokerError(f"{self._where(op)}: not cancelable ({detail}); it is probably filled or already "
                              f"canceled (its status could not be read: {exc}).") from exc
        if order.status is OrderStatus.CANCELED and retried:
            return
        if order.status is OrderStatus.FILLED:
            raise BrokerError(f"{self._where(op)}: not cancelable, it is filled ({order.filled_qty} {order.symbol} "
                              f"at {order.filled_avg_price}); refresh the order list.")
        raise BrokerError(f"{self._where(op)}: not cancelable ({detail}); Alpaca shows it {order.status.value}.")

    def cancel_all_orders(self) -> list[CancelResult]:
        rows = self._calls.value("cancel all orders", self._calls.call("cancel all orders", self._client.cancel_orders))
        results = []
        for r in rows:
            ok = 200 <= int(r.status) < 300
            message = "" if ok else str((r.body or {}).get("message", f"HTTP {r.status}"))
            results.append(CancelResult(broker_order_id=str(r.id), ok=ok, message=message))
        return results

    def close_all_positions(self) -> list[BrokerOrder]:
        """Cancel open orders and liquidate every position; not retried (it creates orders).

        A symbol Alpaca could not close comes back as a REJECTED order with the reason.
        """
        op = "close all positions"
        rows = self._calls.value(op, self._calls.call(op, lambda: self._client.close_all_positions(cancel_orders=True), idempotent=False))
        orders: list[BrokerOrder] = []
        for r in rows:
            if isinstance(r.body, AlpacaOrder):
                orders.append(to_broker_order(r.body))
                continue
            reason = getattr(r.body, "message", None) or f"HTTP {r.status}"
            log.error("Alpaca could not close %s: %s", r.symbol, reason)
            orders.append(_failed_close(r.symbol or "", str(reason), self._clock.now()))
        return orders


def _failed_close(symbol: str, reason: str, now: datetime) -> BrokerOrder:
    return BrokerOrder(
        broker_order_id="", client_order_id="", symbol=symbol, side=OrderSide.SELL, qty=Decimal(0),
        order_type=OrderType.MARKET, limit_price=None, status=OrderStatus.REJECTED, filled_qty=Decimal(0),
        filled_avg_price=None, submitted_at=now, updated_at=now, reject_reason=f"close failed: {reason}",
    )


def build_alpaca_broker(settings: Any, breaker: pybreaker.CircuitBreaker | None = None) -> AlpacaBroker:
    """AlpacaBroker from engine settings (alpaca_key_id, alpaca_secret_key, alpaca_base_url, alpaca_live).

    Live trading happens only when settings.alpaca_live is true (REGIMEDESK_ALPACA_LIVE=1).
    """
    key, secret = secret_value(getattr(settings, "alpaca_key_id", None)), secret_value(getattr(settings, "alpaca_secret_key", None))
    if not key or not secret:
        raise BrokerError("Alpaca broker selected but APCA_API_KEY_ID / APCA_API_SECRET_KEY are not set.")
    live = bool(getattr(settings, "alpaca_live", False))
    deadline = float(getattr(settings, "alpaca_order_timeout_s", 10.0))
    alpaca_calendar().trading_day(datetime.now(UTC))  # load XNYS once now, not inside a kill switch's sync
    return AlpacaBroker(
        key, secret, paper=not live, url_override=getattr(settings, "alpaca_base_url", None) or None,
        timeout_s=float(getattr(settings, "alpaca_timeout_s", None) or max(0.5, deadline / 2)), breaker=breaker,
        allow_live=live, deadline_s=deadline,
        limiter=limiter_for(key, float(getattr(settings, "alpaca_rate_limit_per_minute", DEFAULT_PER_MINUTE))),
        extended_hours=bool(getattr(settings, "alpaca_extended_hours", False)),
    )
