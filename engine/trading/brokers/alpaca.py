"""Alpaca broker adapter (alpaca-py TradingClient) with deadlines, a rate limit, a circuit breaker and safe retries.

Why it is careful: alpaca-py sets no HTTP timeout and retries 429/504 by itself, even for
``POST /v2/orders``. Here the SDK's retries are off; every call has ONE total deadline
(``deadline_s``, REGIMEDESK_ALPACA_ORDER_TIMEOUT_S) covering all its attempts and pages, takes its
requests from the key's shared rate limiter, runs inside a pybreaker circuit breaker, and
idempotent calls (reads, cancels, lookups) are retried with backoff while time is left.

Order submission: a 429 or a request never sent is certain (nothing happened) and is retried with the
same client order id while the deadline allows; a timeout, 5xx or dropped answer is UNKNOWN and is
resolved by looking the order up by its client order id (time is reserved for that lookup). An order
not found yet stays unknown (pending_new in the store); the sync looks it up again before anything
could be resubmitted, and Alpaca refuses a second order with that id, so no order is ever duplicated.
Every rejection carries Alpaca's own status, code and message.

Sessions: Alpaca's clock decides when orders may be sent; outside the regular session only with
extended hours configured, and then only limit DAY orders between 04:00 and 20:00 New York time.
"""
from __future__ import annotations

import functools
import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pybreaker
from alpaca.common.enums import Sort
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import QueryOrderStatus
from alpaca.trading.models import Order as AlpacaOrder
from alpaca.trading.requests import GetOrdersRequest

from engine.clock import Clock, SystemClock
from engine.market.exchange import MarketCalendar, alpaca_calendar
from engine.trading.brokers.alpaca_calls import (
    AlpacaCircuitOpen,
    AlpacaNotSent,
    AlpacaRateLimited,
    GuardedCaller,
)
from engine.trading.brokers.alpaca_http import Failure, describe, harden_client, secret_value
from engine.trading.brokers.alpaca_limits import DEFAULT_PER_MINUTE, RateLimiter, call_budget, limiter_for
from engine.trading.brokers.alpaca_mapping import (
    activity_time,
    activity_to_fill,
    to_account,
    to_alpaca_request,
    to_broker_order,
    to_position,
)
from engine.trading.brokers.base import (
    BrokerAccount,
    BrokerError,
    BrokerFill,
    BrokerOrder,
    BrokerPosition,
    BrokerUnavailable,
    CancelResult,
    OrderRejected,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
)

log = logging.getLogger(__name__)
__all__ = ["AlpacaBroker", "AlpacaCircuitOpen", "build_alpaca_broker"]
PAGE = 500  # Alpaca's maximum page size for GET /v2/orders
LIVE_HOST = "api.alpaca.markets"
ACTIVITY_PAGE = 100  # and for GET /v2/account/activities
MAX_PAGES = 40  # any paging loop stops here (20,000 orders / 4,000 fills per sync) and says so
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
        self._lookback = order_lookback
        self._max_history = max_history
        self._clock = clock or SystemClock()

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
        return to_account(self._calls.value("get account", self._calls.call("get account", self._client.get_account)))

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
        """(may send now, as extended hours, why not): Alpaca's clock and the XNYS calendar decide."""
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
        now = clk.timestamp.astimezone(UTC) if clk.timestamp else self._clock.now()
        if not self.calendar.in_extended_hours(now):
            return False, False, (f"outside Alpaca's extended hours (04:00-20:00 New York time on a trading day); "
                                  f"next open {nxt}.")
        if order_type is not OrderType.LIMIT:
            return False, True, "outside the regular session Alpaca accepts only limit orders (extended hours)."
        return True, True, ""

    def accepts_orders_now(self) -> bool:
        """For the planner: may an order of any kind RegimeDesk sends go out now? (False when unsure.)"""
        try:
            ok, _, _ = self.order_session(OrderType.LIMIT if self.extended_hours else OrderType.MARKET)
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

    def _list_orders(self, status: QueryOrderStatus, after: datetime | None) -> list[AlpacaOrder]:
        """All matching orders, oldest first, paging past Alpaca's 500-per-request limit."""
        seen: dict[str, AlpacaOrder] = {}
        cursor = after
        for _ in range(MAX_PAGES):
            req = GetOrdersRequest(status=status, limit=PAGE, after=cursor, direction=Sort.ASC, nested=False)
            page = self._calls.value("list orders", self._calls.call("list orders", functools.partial(self._client.get_orders, req)))
            new = [o for o in page if str(o.id) not in seen]
            for o in new:
                seen[str(o.id)] = o
            if len(page) < PAGE or not new:
                return list(seen.values())
            cursor = max(o.submitted_at for o in page) - timedelta(microseconds=1)
        raise BrokerError(f"{self._where('list orders')}: more than {MAX_PAGES * PAGE} orders in the window; "
                          "narrow it (order_lookback) or reconcile in steps.")

    def list_open_orders(self) -> list[BrokerOrder]:
        return [to_broker_order(o) for o in self._list_orders(QueryOrderStatus.OPEN, None)]

    def _floor(self, since: datetime) -> datetime:
        """Never reach further back than max_history (a first sync asks for everything since 1970)."""
        return max(since, self._clock.now() - self._max_history)

    def _orders_window(self, since: datetime, acts: list[dict[str, Any]]) -> dict[str, AlpacaOrder]:
        """Orders submitted within order_lookback before ``since``, plus every order a fill since then touched."""
        orders = {str(o.id): o for o in self._list_orders(QueryOrderStatus.ALL, self._floor(since) - self._lookback)}
        for oid in sorted({str(a.get("order_id")) for a in acts} - orders.keys()):
            op = f"get order {oid}"
            orders[oid] = self._calls.value(op, self._calls.call(op, functools.partial(self._client.get_order_by_id, oid)))
        return orders

    def list_orders_since(self, since: datetime) -> list[BrokerOrder]:
        """Orders updated at or after ``since``: how order states reach the store.

        Alpaca filters orders by submission time only, so this reads orders submitted up to
        ``order_lookback`` before ``since`` plus any order filled since then (from fill activities).
        Still missed: an order older than the lookback canceled or expired since; reconciliation's
        open-order comparison catches those.
        """
        acts = self._fill_activities(since)
        orders = self._orders_window(since, acts)
        return [to_broker_order(o) for o in orders.values() if o.updated_at >= since]

    def fills_since(self, since: datetime) -> list[BrokerFill]:
        """Per-execution fills at or after ``since`` from Alpaca's FILL account activities.

        fill_id is Alpaca's activity id. Activities carry the broker order id only; client order
        ids come from the order list (or a lookup by order id for older orders).
        """
        acts = self._fill_activities(since)
        if not acts:
            return []
        cids = {oid: o.client_order_id for oid, o in self._orders_window(since, acts).items()}
        return [activity_to_fill(a, cids.get(str(a.get("order_id")), "")) for a in acts]

    def _fill_activities(self, since: datetime) -> list[dict[str, Any]]:
        """GET /v2/account/activities/FILL, oldest first, following page tokens (100 per page)."""
        rows: list[dict[str, Any]] = []
        token: str | None = None
        op = "list fill activities"
        for _ in range(MAX_PAGES):
            params: dict[str, Any] = {"after": (self._floor(since) - timedelta(seconds=1)).isoformat(), "direction": "asc",
                                      "page_size": ACTIVITY_PAGE}
            if token:
                params["page_token"] = token
            page = self._calls.value(op, self._calls.call(op, functools.partial(self._client.get, "/account/activities/FILL", params)))
            if not isinstance(page, list):
                raise BrokerError(f"{self._where(op)}: unexpected answer (not a list).")
            rows.extend(page)
            if len(page) < ACTIVITY_PAGE:
                return [a for a in rows if activity_time(a) >= since]
            token = str(page[-1].get("id"))
        raise BrokerError(f"{self._where(op)}: more than {MAX_PAGES * ACTIVITY_PAGE} fills since {since:%Y-%m-%d %H:%M}; "
                          "the sync stops here rather than page for ever.")

    # ---- orders ----------------------------------------------------------------------
    def submit_order(self, request: OrderRequest) -> BrokerOrder:
        op = f"submit order {request.client_order_id} ({request.side.value} {request.qty} {request.symbol})"
        with self._calls.budget(op) as budget:
            try:
                allowed, extended, why = self.order_session(request.order_type)
            except AlpacaCircuitOpen:
                raise
            except AlpacaNotSent as exc:
                raise AlpacaNotSent(f"{self._where(op)}: not sent; the session check could not run ({exc})") from exc
            except BrokerUnavailable as exc:  # only the clock was asked: the order itself was not sent
                raise AlpacaNotSent(f"{self._where(op)}: not sent; Alpaca's clock could not be read ({exc})") from exc
            if not allowed:
                raise OrderRejected(f"{self._where(op)}: not sent: {why}")
            alpaca_request = to_alpaca_request(request, extended_hours=extended)
            reserve = min(self.timeout_s, budget.remaining() / 2)  # time kept for the lookup after an unknown outcome
            out = None
            for _ in range(self._calls.retry_attempts):
                try:
                    with call_budget(budget.remaining() - reserve, label=op):
                        out = self._calls.attempt(op, lambda: self._client.submit_order(alpaca_request))
                    break
                except AlpacaCircuitOpen:
                    raise
                except AlpacaRateLimited as exc:  # Alpaca did nothing: try again within the deadline
                    log.warning("submit of %s rate limited: %s", request.client_order_id, exc)
                    continue
                except AlpacaNotSent as exc:
                    raise AlpacaNotSent(f"{self._where(op)}: not sent ({exc}); nothing reached Alpaca.") from exc
                except BrokerUnavailable as exc:
                    log.warning("submit of %s: outcome unknown (%s); looking it up", request.client_order_id, exc)
                    return self._resolve(request, op, str(exc))
            if out is None:
                raise AlpacaNotSent(f"{self._where(op)}: not sent; Alpaca answered 429 (rate limit) "
                                    f"{self._calls.retry_attempts} times. Nothing was placed; submit again shortly.")
            if out.failure is Failure.DUPLICATE:
                log.warning("Alpaca already has client order id %s (answer of an earlier attempt lost); looking it up",
                            request.client_order_id)
                return self._resolve(request, op, "Alpaca already has this client order id")
            if out.failure is not None:
                detail = describe(out.error) if out.error else out.failure.value
                if out.failure is Failure.AUTH:
                    self._calls.value(op, out)
                raise OrderRejected(f"{self._where(op)}: rejected by Alpaca ({detail}). "
                                    "Fix the order or the account and submit a new one.")
            return to_broker_order(out.value)

    def _resolve(self, request: OrderRequest, op: str, why: str) -> BrokerOrder:
        """After an unknown outcome: return the order if Alpaca has it, else say the outcome is still unknown."""
        cid = request.client_order_id
        try:
            raw = self._raw_order_by_client_id(cid)
        except BrokerUnavailable as exc:
            raise BrokerUnavailable(
                f"{self._where(op)}: outcome unknown ({why}) and the lookup failed ({exc}). The sync looks the order "
                "up by its client order id before anything is resubmitted; Alpaca will not accept the id twice."
            ) from exc
        if raw is None:
            raise BrokerUnavailable(
                f"{self._where(op)}: outcome unknown ({why}); Alpaca has no order with this client order id yet "
                "(a slow request may still be accepted). The sync looks it up again before anything is resubmitted; "
                "Alpaca will not accept the id twice."
            )
        found = to_broker_order(raw)
        if (found.symbol, found.side, found.qty) != (request.symbol.upper(), request.side, request.qty):
            raise OrderRejected(
                f"{self._where(op)}: client order id {cid} already belongs to a different order "
                f"({found.side.value} {found.qty} {found.symbol}). The gateway must not reuse ids across orders."
            )
        log.info("order %s resolved by client id lookup: %s", cid, found.status.value)
        return found

    def cancel_order(self, broker_order_id: str) -> None:
        op = f"cancel order {broker_order_id}"
        out = self._calls.call(op, lambda: self._client.cancel_order_by_id(broker_order_id))
        if out.failure is Failure.NOT_FOUND:
            raise BrokerError(f"{self._where(op)}: Alpaca has no such order; refresh the order list.")
        if out.failure is Failure.REJECTED and out.error is not None:
            raise BrokerError(f"{self._where(op)}: not cancelable ({describe(out.error)}); it is probably filled or already canceled.")
        self._calls.value(op, out)

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
