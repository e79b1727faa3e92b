"""The order gateway: the one path from an order intent to a broker.

One store transaction reads the trading state (locked) and the active parameter version's limits
(engine/trading/order_limits.py), runs the pre-trade checks and records the order (pending_new) or its
rejection; only after that commits is the broker called. So a HALT or a new version written by anyone (web, CLI,
another engine) applies to the very next order, and a crash after the commit leaves a pending_new row that sync
resolves by its deterministic client order id.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine import audit
from engine.execution.native_cover import Release, release_native, reprotect
from engine.execution.throttle import ThrottleConfig, ThrottleRefused, bucket_for
from engine.lease import check_fence, fence_of, require_lease
from engine.market.market_clock import market_clock_of
from engine.portfolio_risk.check import check_order as portfolio_check
from engine.protocols import ControlContext
from engine.store.installation import installation_id
from engine.store.models import OrderRow
from engine.trading import state as trading_state
from engine.trading.brokers.base import (
    BrokerError,
    BrokerNotSent,
    BrokerOrder,
    BrokerUnavailable,
    OrderRejected,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
)
from engine.trading.halt_after_send import cancel_if_halted
from engine.trading.id_clash import id_clash
from engine.trading.instruments import index_is_tradable, source_index_symbol
from engine.trading.intent import OrderIntent
from engine.trading.order_facts import gather_facts, lock_state
from engine.trading.order_limits import WindowStart, order_limits, record_refusal, window_start
from engine.trading.orders import apply_broker_order
from engine.trading.reject_reasons import failure_reason, reached_broker
from engine.trading.risk import FLATTEN_ORIGINS, OrderFacts, RiskRejection, check_trading_state, run_checks
from engine.trading.risk_limits import RiskLimits, active_limits
from engine.trading.sync import sync_from_broker
from engine.trading.triggers import RISK_ACTOR, rejection_since, rejection_trigger, tighten

log = logging.getLogger(__name__)
EXIT_THROTTLE_WAIT_S = 60.0  # flatten and protective exits wait for the throttle, never refused by it
_STATE_TRIGGERS = {"daily_loss": "daily_loss_action", "drawdown": "drawdown_action"}


@dataclass(frozen=True, slots=True)
class GatewayResult:
    client_order_id: str
    status: OrderStatus
    accepted: bool  # recorded and sent (or awaiting the broker); False = rejected
    reason: str | None = None  # rejection reason, or why it is still pending_new
    check: str | None = None  # the risk check that refused it; "broker": the broker step (sent or not: `reason`)
    broker_order_id: str | None = None
    duplicate: bool = False  # this client order id existed: nothing new was sent


class GatewayError(Exception):
    """The intent itself is malformed (e.g. no idempotency key); nothing was recorded."""


def client_order_id_for(origin: str, idempotency_key: str, symbol: str, side: OrderSide | str,
                        installation: str = "") -> str:
    """Deterministic: a retried intent gets the same id, so the broker never sees a duplicate. The store's
    installation id (engine/store/installation.py) keeps a new store's ids apart; "" = legacy ids (id_clash)."""
    text = f"{origin}|{idempotency_key}|{symbol}|{OrderSide(side).value}"
    digest = hashlib.sha256((f"{text}|{installation}" if installation else text).encode()).hexdigest()
    return f"rd-{digest[:32]}"


def _result(row: OrderRow, duplicate: bool = False, check: str | None = None) -> GatewayResult:
    status = OrderStatus(row.status)
    return GatewayResult(client_order_id=row.client_order_id, status=status, accepted=status is not OrderStatus.REJECTED,
                         reason=row.reject_reason, check=check, broker_order_id=row.broker_order_id, duplicate=duplicate)


def _record(session: Session, intent: OrderIntent, coid: str, actor: str, origin: str, now: datetime,
            rejection: RiskRejection | None, param_version_id: int | None, at: datetime | None = None) -> OrderRow:
    """The order row carries the market clock's time (`at`); its audit row the wall clock's (`now`)."""
    at = at or now
    row = OrderRow(
        client_order_id=coid, broker_order_id=None, symbol=intent.symbol, side=OrderSide(intent.side).value,
        qty=intent.qty, order_type=OrderType(intent.order_type).value, limit_price=intent.limit_price,
        status=(OrderStatus.REJECTED if rejection else OrderStatus.PENDING_NEW).value, filled_qty=Decimal(0),
        filled_avg_price=None, reject_reason=f"{rejection.check}: {rejection.reason}" if rejection else None,
        origin=origin, actor=actor, param_version_id=param_version_id, created_at=at, updated_at=at)
    session.add(row)
    details = {"client_order_id": coid, "side": row.side, "qty": str(intent.qty), "type": row.order_type,
               "limit": str(intent.limit_price) if intent.limit_price is not None else None, "origin": origin,
               "why": intent.reason}
    if intent.stop_price is not None or intent.trail_percent is not None:  # the order row has no column for these
        details.update(stop=str(intent.stop_price) if intent.stop_price is not None else None, tif=intent.time_in_force,
                       trail_percent=str(intent.trail_percent) if intent.trail_percent is not None else None)
    if rejection:
        audit.record(session, now, actor, "order.rejected", target=intent.symbol,
                     details={**details, "check": rejection.check, "reason": rejection.reason}, outcome="rejected")
    else:
        audit.record(session, now, actor, "order.submit", target=intent.symbol, details=details)
    return row


def submit(ctx: ControlContext, intent: OrderIntent, actor: str, origin: str, limits: RiskLimits | None = None,
           param_version_id: int | None = None) -> GatewayResult:
    """Check, record, then send one order. Never raises for a rejection or an unreachable broker.
    `limits`, `param_version_id`: what the caller decided on (their meaning: engine/trading/order_limits.py)."""
    if not intent.idempotency_key:
        raise GatewayError(f"order for {intent.symbol} has no idempotency key; the caller must give one per intent")
    coid = client_order_id_for(origin, intent.idempotency_key, intent.symbol, intent.side, installation_id(ctx.store))
    throttled = _throttle(ctx, origin)  # before the transaction: a HALT written while it waits still stops it
    now = ctx.clock.now()  # wall clock: the audit row, state changes, the stale-data check
    market = market_clock_of(ctx)  # read before the transaction: it may look the shared market clock up
    since = window_start(market, now, limits or active_limits(ctx.store))
    try:
        row, facts, rejection, used = _check_and_record(ctx, intent, coid, actor, origin, now, limits,
                                                        param_version_id, at=market.now(), since=since, forced=throttled)
    except IntegrityError:  # the same client order id committed by a concurrent caller: that order stands
        with ctx.store.read() as s:
            existing = s.scalars(select(OrderRow).where(OrderRow.client_order_id == coid)).one()
            if (clash := id_clash(existing)) is not None:  # a concurrent sync imported a foreign order
                return GatewayResult(coid, OrderStatus.REJECTED, False, clash.reason, clash.check)
            return _result(existing, duplicate=True)
    if row is None:  # refused unchecked (a replaced parameter version, or an id clash): nothing recorded
        return GatewayResult(coid, OrderStatus.REJECTED, False, rejection.reason if rejection else None,
                             rejection.check if rejection else None)
    if row.status != OrderStatus.PENDING_NEW.value or facts is None:
        return _result(row, duplicate=facts is None, check=rejection.check if rejection else None)
    return _send(ctx, row, actor, used, intent, facts)


def _check_and_record(ctx: ControlContext, intent: OrderIntent, coid: str, actor: str, origin: str, now: datetime,
                      limits: RiskLimits | None, param_version_id: int | None, *, at: datetime | None = None,
                      since: WindowStart, forced: RiskRejection | None = None,
                      ) -> tuple[OrderRow | None, OrderFacts | None, RiskRejection | None, RiskLimits]:
    """The one transaction: lock the state, dedupe, read the limits, check, record; returns the limits used too
    (facts None = an existing order; row None = refused unchecked: the caller's parameter version was replaced,
    or the id is held by an order an earlier store sent: id_clash).

    `now` is the wall clock (audit, state changes, data freshness); `at` the market clock the order row carries."""
    with ctx.store.write() as s:
        epoch = check_fence(s, ctx)  # an engine records an order only under the lease epoch it holds (engine/lease.py)
        lock_state(s, now)  # first: concurrent gateways queue here, so the dedupe below sees committed rows
        existing = s.scalars(select(OrderRow).where(OrderRow.client_order_id == coid)).one_or_none()
        chosen = order_limits(s, limits, param_version_id)  # after the lock: the version committed before us
        limits = chosen.risk
        if existing is not None:
            if (clash := id_clash(existing)) is not None:
                record_refusal(s, now, actor, intent.symbol, clash, client_order_id=coid, origin=origin,
                               why=intent.reason)
                return None, None, clash, limits
            return existing, None, None, limits
        if chosen.refusal is not None:
            record_refusal(s, now, actor, intent.symbol, chosen.refusal, client_order_id=coid, origin=origin,
                           why=intent.reason)
            return None, None, chosen.refusal, limits
        simulated = str(getattr(getattr(ctx, "settings", None), "market_source", "")) == "simulated"
        facts = gather_facts(s, intent, actor, origin, now, wall_clock_bars=not simulated,
                             index_symbol=source_index_symbol(ctx), index_tradable=index_is_tradable(ctx))
        rejection = (forced or run_checks(facts, limits)
                     or portfolio_check(s, facts, chosen.portfolio, bars=getattr(ctx, "bars", None)))  # issue 17
        row = _record(s, intent, coid, actor, origin, now, rejection, chosen.version_id, at=at)
        row.lease_epoch = epoch
        if rejection is not None:
            if rejection.check in _STATE_TRIGGERS:
                tighten(s, now, trading_state.TradingState(getattr(limits, _STATE_TRIGGERS[rejection.check])),
                        rejection.reason, RISK_ACTOR)
            s.flush()
            rejection_trigger(s, now, limits, since=since(limits))
        elif origin in FLATTEN_ORIGINS and facts.state is not trading_state.TradingState.ACTIVE:
            audit.record(s, now, actor, "order.flatten_override", target=intent.symbol,
                         details={"client_order_id": coid, "state": facts.state.value, "why": intent.reason})
    return row, facts, rejection, limits


def _throttle(ctx: ControlContext, origin: str) -> RiskRejection | None:
    """Wait for the account's order throttle (engine/execution/throttle.py); None = go, else the refusal."""
    config = ThrottleConfig.from_settings(getattr(ctx, "settings", None))
    bucket = bucket_for(ctx.broker, config)
    if bucket is None:
        return None
    try:
        bucket.acquire(EXIT_THROTTLE_WAIT_S if origin in FLATTEN_ORIGINS else config.max_wait_s)
    except ThrottleRefused as exc:
        return RiskRejection("order_throttle", f"{exc}; send fewer orders at once or raise REGIMEDESK_ORDER_RATE_PER_SECOND")
    return None


def _halted(ctx: ControlContext, facts: OrderFacts) -> str | None:
    """Asked right before the broker's POST: a HALT committed after the order was recorded still stops it."""
    with ctx.store.read() as s:
        no = check_trading_state(replace(facts, state=trading_state.current(s).state))
    return None if no is None else f"trading was halted while the order was being sent ({no.reason})"


def _lapsed(ctx: ControlContext, coid: str, seen: list[str]) -> str | None:
    """The lease asked again right before the broker's POST: an engine that stalled after the first check
    (native-stop cancels, a slow clock read, a retry's wait) past its lease sends nothing; noted in `seen`."""
    fence = fence_of(ctx)
    if fence is None or fence.surely_held():
        return None
    why = (f"this engine's lease may have lapsed before order {coid} reached the broker (it stalled after "
           "recording it); another engine may lead now, so nothing was sent")
    seen.append(why)
    return why


def _send(ctx: ControlContext, row: OrderRow, actor: str, limits: RiskLimits,
          intent: OrderIntent | None = None, facts: OrderFacts | None = None) -> GatewayResult:
    tif, stop, trail = (intent.time_in_force, intent.stop_price, intent.trail_percent) if intent else ("day", None, None)
    request = OrderRequest(client_order_id=row.client_order_id, symbol=row.symbol, side=OrderSide(row.side), qty=row.qty,
                           order_type=OrderType(row.order_type), limit_price=row.limit_price, time_in_force=tif,
                           stop_price=stop, trail_percent=trail)
    # recorded, not sent yet: an engine frozen since (past its lease) leaves it pending_new for the new
    # leader's sync to close ("never received") instead of sending it
    require_lease(ctx, f"sending order {row.client_order_id}")
    release = Release()
    lapsed: list[str] = []  # why the lease refused the send, once it did

    def last_check() -> str | None:  # right before each POST attempt (Alpaca's retries too): lease, then state
        why = _lapsed(ctx, row.client_order_id, lapsed)
        return why if why is not None or facts is None else _halted(ctx, facts)
    try:
        release = release_native(ctx, request, actor)  # native stops holding its shares: canceled, re-placed below
        if release.refused is not None:  # a native stop filled first (or would not cancel): nothing is sent
            raise BrokerNotSent(release.refused)
        checked = getattr(type(ctx.broker), "submit_checked", None)  # Alpaca: asks right before each POST attempt
        if checked is None and (why := _lapsed(ctx, row.client_order_id, lapsed)) is not None:
            raise BrokerNotSent(why)  # the lease again, after the native-stop cancels, right before the send
        order: BrokerOrder | None = (checked(ctx.broker, request, last_check) if checked is not None
                                     else ctx.broker.submit_order(request))
        if order is not None and facts is not None:  # a HALT committed while the POST was on the wire
            order = cancel_if_halted(ctx.broker, order, lambda: _halted(ctx, facts))
        failure: str | None = None
    except (OrderRejected, BrokerNotSent) as exc:  # BrokerNotSent: certain, so no pending row; "not sent: ..."
        order, failure = None, failure_reason(exc)  # does not count toward max_rejections (reject_reasons.py)
    except (BrokerUnavailable, BrokerError) as exc:
        log.warning("order %s for %s not confirmed by the broker: %s; sync will look it up",
                    row.client_order_id, row.symbol, exc, extra={"order_id": row.client_order_id})
        reprotect(ctx, release, actor, submit, exit_live=True)  # it may be live: stop + exit never exceed the position
        return GatewayResult(row.client_order_id, OrderStatus.PENDING_NEW, True,
                             f"broker not reachable ({exc}); the order will be confirmed by the next sync")
    except Exception as exc:  # noqa: BLE001 - ambiguous: the order may have reached the broker
        log.exception("order %s: unexpected broker failure", row.client_order_id)
        reprotect(ctx, release, actor, submit, exit_live=True)
        return GatewayResult(row.client_order_id, OrderStatus.PENDING_NEW, True,
                             f"unexpected broker failure ({type(exc).__name__}: {exc}); sync will look the order up")
    now, market = ctx.clock.now(), market_clock_of(ctx)
    at, since = market.now(), rejection_since(market, now, limits)
    with ctx.store.write() as s:
        check_fence(s, ctx)  # sent, but another engine leads now: its sync records the broker's answer
        stored = s.scalars(select(OrderRow).where(OrderRow.client_order_id == row.client_order_id)).one()
        if order is not None:
            apply_broker_order(stored, order, at)
        else:
            stored.status, stored.reject_reason, stored.updated_at = OrderStatus.REJECTED.value, failure, at
        if OrderStatus(stored.status) is OrderStatus.REJECTED:
            audit.record(s, now, actor, "order.rejected", target=stored.symbol, outcome="rejected",
                         details={"client_order_id": stored.client_order_id, "check": "broker",
                                  "reason": stored.reject_reason, "reached_broker": reached_broker(stored.reject_reason)})
            s.flush()
            rejection_trigger(s, now, limits, since=since)
        result = _result(stored, check="broker" if OrderStatus(stored.status) is OrderStatus.REJECTED else None)
    if lapsed:  # refused for its lease, the reason stored above: this engine steps down (raises FencedOut)
        require_lease(ctx, f"sending order {row.client_order_id} ({lapsed[0]})")
    reprotect(ctx, release, actor, submit, exit_live=result.accepted)  # the exit's row says what it is now
    return result


def flatten_all(ctx: ControlContext, actor: str, reason: str, idempotency_key: str, cancel_open: bool = True,
                limits: RiskLimits | None = None, origin: str = "flatten") -> list[GatewayResult]:
    """Market orders to flat for every broker position, through the gateway (allowed while HALTED for an operator).

    Open orders are canceled first (cancel_open) so they cannot rebuild a position; the store is
    synced from the broker so each order is checked against the true position and never flips it.
    """
    if cancel_open:
        ctx.broker.cancel_all_orders()
    sync_from_broker(ctx, limits)
    results = []
    for pos in ctx.broker.get_positions():
        if pos.qty == 0:
            continue
        side = OrderSide.SELL if pos.qty > 0 else OrderSide.BUY
        intent = OrderIntent(pos.symbol, side, abs(pos.qty), OrderType.MARKET, None, reason=reason,
                             idempotency_key=f"{idempotency_key}:{pos.symbol}")
        results.append(submit(ctx, intent, actor, origin, limits))
    return results
