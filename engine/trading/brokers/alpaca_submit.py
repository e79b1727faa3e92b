"""Placing one order with Alpaca exactly once, even when the answer is lost.

Kept apart from the broker because this is the one non-idempotent call and it has its own protocol:
a 429 or a request never sent is certain (nothing happened) and is retried with the same client order
id while the deadline allows; a timeout, 5xx or dropped answer is UNKNOWN and is resolved by looking the
order up by its client order id (time is reserved for that lookup). An order not found yet stays unknown
(pending_new in the store); the sync looks it up again before anything could be resubmitted, and Alpaca
refuses a second order with that id, so no order is ever duplicated. Every rejection carries Alpaca's
own status, code and message. An order found by the lookup that was submitted before this submit began (an id
an earlier store on the same account used: ids derive from database ids) is not this order: refused, naming it.
The caller (the gateway) may pass a last check, asked after the rate-limiter wait just before each POST:
a HALT committed while the order was on its way then stops it (recorded as rejected, nothing sent).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from alpaca.trading.client import TradingClient
from alpaca.trading.models import Order as AlpacaOrder

from engine.trading.brokers.alpaca_calls import (
    AlpacaCircuitOpen,
    AlpacaNotSent,
    AlpacaRateLimited,
    GuardedCaller,
)
from engine.trading.brokers.alpaca_http import Failure, describe
from engine.trading.brokers.alpaca_limits import NotSent, call_budget
from engine.trading.brokers.alpaca_mapping import to_alpaca_request, to_broker_order
from engine.trading.brokers.base import (
    BrokerOrder,
    BrokerUnavailable,
    OrderRejected,
    OrderRequest,
    OrderType,
)

log = logging.getLogger(__name__)
# how far this machine's clock may run ahead of Alpaca's: an order Alpaca stamps earlier than this before the
# submit began was placed by someone else (an earlier store), never by a lost attempt of this submit
CLOCK_SKEW = timedelta(minutes=5)


class HeldBeforePost(NotSent):
    """The caller's last check, right before the POST, refused the order (e.g. trading halted meanwhile)."""


def _last_check(refusal: Callable[[], str | None] | None) -> Callable[[], None] | None:
    """``refusal`` as a before-send hook: raises HeldBeforePost with its reason; failing to ask it holds the order too."""
    if refusal is None:
        return None

    def check() -> None:
        try:
            why = refusal()
        except Exception as exc:  # noqa: BLE001 - unsure whether the order may go out: it does not
            raise NotSent(f"not sent: the trading state could not be re-read before sending ({type(exc).__name__})") from exc
        if why:
            raise HeldBeforePost(why)
    return check


class OrderSubmitter:
    """submit(): the session check, the POST with its retries, and the lookup after an unknown outcome."""

    def __init__(
        self,
        client: TradingClient,
        calls: GuardedCaller,
        where: Callable[[str], str],
        timeout_s: float,
        session: Callable[[OrderType], tuple[bool, bool, str]],
        lookup: Callable[[str], AlpacaOrder | None],
    ) -> None:
        self._client = client
        self._calls = calls
        self._where = where
        self._timeout_s = timeout_s
        self._session = session  # (may send now, as extended hours, why not)
        self._lookup = lookup  # the raw order with this client order id, or None

    def submit(self, request: OrderRequest, refusal: Callable[[], str | None] | None = None) -> BrokerOrder:
        """``refusal`` is asked right before each POST (after the rate-limiter wait): a reason refuses the order."""
        op = f"submit order {request.client_order_id} ({request.side.value} {request.qty} {request.symbol})"
        started = datetime.now(UTC)  # the real clock, as Alpaca's submitted_at (the engine's may be a test's)
        with self._calls.budget(op) as budget:
            try:
                allowed, extended, why = self._session(request.order_type)
            except AlpacaCircuitOpen:
                raise
            except AlpacaNotSent as exc:
                raise AlpacaNotSent(f"{self._where(op)}: not sent; the session check could not run ({exc})") from exc
            except BrokerUnavailable as exc:  # only the clock was asked: the order itself was not sent
                raise AlpacaNotSent(f"{self._where(op)}: not sent; Alpaca's clock could not be read ({exc})") from exc
            if not allowed:
                raise OrderRejected(f"{self._where(op)}: not sent: {why}")
            alpaca_request = to_alpaca_request(request, extended_hours=extended)
            reserve = min(self._timeout_s, budget.remaining() / 2)  # time kept for the lookup after an unknown outcome
            before_post = _last_check(refusal)
            out = None
            for _ in range(self._calls.retry_attempts):
                try:
                    with call_budget(budget.remaining() - reserve, label=op, before_send=before_post):
                        out = self._calls.attempt(op, lambda: self._client.submit_order(alpaca_request))
                    break
                except AlpacaCircuitOpen:
                    raise
                except AlpacaRateLimited as exc:  # Alpaca did nothing: try again within the deadline
                    log.warning("submit of %s rate limited: %s", request.client_order_id, exc)
                    continue
                except AlpacaNotSent as exc:
                    if isinstance(exc.__cause__, HeldBeforePost):
                        raise OrderRejected(f"{self._where(op)}: not sent: {exc.__cause__}") from exc
                    raise AlpacaNotSent(f"{self._where(op)}: not sent ({exc}); nothing reached Alpaca.") from exc
                except BrokerUnavailable as exc:
                    log.warning("submit of %s: outcome unknown (%s); looking it up", request.client_order_id, exc)
                    return self._resolve(request, op, str(exc), started)
            if out is None:
                raise AlpacaNotSent(f"{self._where(op)}: not sent; Alpaca answered 429 (rate limit) "
                                    f"{self._calls.retry_attempts} times. Nothing was placed; submit again shortly.")
            if out.failure is Failure.DUPLICATE:
                log.warning("Alpaca already has client order id %s (answer of an earlier attempt lost); looking it up",
                            request.client_order_id)
                return self._resolve(request, op, "Alpaca already has this client order id", started)
            if out.failure is not None:
                detail = describe(out.error) if out.error else out.failure.value
                if out.failure is Failure.AUTH:
                    self._calls.value(op, out)
                raise OrderRejected(f"{self._where(op)}: rejected by Alpaca ({detail}). "
                                    "Fix the order or the account and submit a new one.")
            return to_broker_order(out.value)

    def _resolve(self, request: OrderRequest, op: str, why: str, started: datetime) -> BrokerOrder:
        """After an unknown outcome: return the order if Alpaca has it, else say the outcome is still unknown.
        An order submitted before `started` (less CLOCK_SKEW) is another's that holds the id: refused."""
        cid = request.client_order_id
        try:
            raw = self._lookup(cid)
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
        if found.submitted_at < started - CLOCK_SKEW:
            raise OrderRejected(
                f"{self._where(op)}: rejected by Alpaca: client order id {cid} already belongs to an older order "
                f"(Alpaca order {found.broker_order_id}, submitted {found.submitted_at:%Y-%m-%d %H:%M:%S} UTC, "
                f"{found.status.value}, filled {found.filled_qty}), probably placed from an earlier store on the "
                "same account. Nothing new was placed; submit the order again as a new command or plan."
            )
        log.info("order %s resolved by client id lookup: %s", cid, found.status.value)
        return found
