"""What a broker-side (native) protective order covers, and getting it out of the way of other exits.

Shared by the engine's own stop check (engine/execution/protect.py: it leaves to a live native order the
exit that order carries, so the two never both sell), the native-order manager
(engine/execution/native_stops.py) and the gateway (engine/trading/gateway.py: Alpaca holds the shares a
resting stop covers, so any other order closing that position first cancels the stop and, when the exit
leaves shares, places the same stop for those at once, in the acting user's name: a ticket sent while the
engine is down must not leave the rest unprotected; stop + exit never exceed the position).
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import audit
from engine.execution.native_plan import Submit, protect_rest
from engine.lease import check_fence
from engine.protocols import ControlContext
from engine.store.models import OrderRow, PositionRow
from engine.trading.brokers.base import BrokerError, OrderRequest, OrderSide, OrderStatus, OrderType
from engine.trading.orders import CONTINGENT_TYPES, OPEN_STATUSES, mark_canceled_in_store

log = logging.getLogger(__name__)
NATIVE_TYPES = CONTINGENT_TYPES
# the StopSpec field a live native order of each type carries; the engine checks the others itself
COVERS = {OrderType.TRAILING_STOP.value: "trail_pct", OrderType.STOP.value: "stop_loss_pct"}


def supports_native(broker: Any) -> bool:
    """Does the broker take stop / trailing-stop orders as protective exits (AlpacaBroker.native_stops)?"""
    return bool(getattr(broker, "native_stops", False))


def native_orders(session: Session, coids: Iterable[str | None]) -> dict[str, OrderRow]:
    """The stored native orders by client order id (the ids ProtectiveStop.native_order_id points to)."""
    wanted = [c for c in coids if c]
    if not wanted:
        return {}
    return {o.client_order_id: o for o in session.scalars(select(OrderRow).where(OrderRow.client_order_id.in_(wanted)))}


def is_live(order: OrderRow | None) -> bool:
    return order is not None and OrderStatus(order.status).is_open


def covered(order: OrderRow | None) -> str | None:
    """The exit a native order carries while it is live (None: dead or absent; the engine checks everything)."""
    if not is_live(order):
        return None
    assert order is not None
    return COVERS.get(order.order_type)


def _rest_after(ctx: ControlContext, request: OrderRequest) -> Decimal:
    """The shares of the position `request` closes that it leaves (0: it closes all, or it closes nothing).

    The broker's position (the stop must fit what the broker holds); the stored one when it cannot be read."""
    try:
        qty = next((p.qty for p in ctx.broker.get_positions() if p.symbol == request.symbol), Decimal(0))
    except BrokerError as exc:
        log.warning("position of %s not read from the broker (%s); using the stored one", request.symbol, exc)
        with ctx.store.read() as s:
            row = s.get(PositionRow, request.symbol)
            qty = row.qty if row is not None else Decimal(0)
    closes = qty > 0 if request.side is OrderSide.SELL else qty < 0
    return max(abs(qty) - request.qty, Decimal(0)) if closes else Decimal(0)


def release_native(ctx: ControlContext, request: OrderRequest, actor: str, submit: Submit) -> str | None:
    """Before another order closes a position: cancel the native stops holding its shares, and (an exit that
    leaves shares) place them anew for the rest; both audited in `actor`'s name.

    Returns None to go on, or why the order must not be sent (a native stop filled first: the position it
    would close is already gone, and sending would open the opposite one)."""
    if request.order_type.value in NATIVE_TYPES or not supports_native(ctx.broker):
        return None
    with ctx.store.read() as s:
        rows = list(s.scalars(select(OrderRow).where(
            OrderRow.symbol == request.symbol, OrderRow.side == request.side.value,
            OrderRow.order_type.in_(NATIVE_TYPES), OrderRow.status.in_(OPEN_STATUSES),
            OrderRow.broker_order_id.is_not(None))))
    if not rows:
        return None
    rest = _rest_after(ctx, request)  # read before the cancels: the exit has not been sent yet
    canceled: list[str] = []
    released: list[str] = []
    for row in rows:
        try:
            ctx.broker.cancel_order(cast(str, row.broker_order_id))  # the query selects non-null ids
            canceled.append(str(row.broker_order_id))
            released.append(row.client_order_id)
        except BrokerError as exc:
            try:
                found = ctx.broker.get_order_by_client_id(row.client_order_id)
            except BrokerError as lookup:
                return f"the native {row.order_type} order {row.client_order_id} could not be canceled ({exc}; {lookup})"
            if found is not None and found.filled_qty > 0:
                return (f"the native {row.order_type} order {row.client_order_id} filled first "
                        f"({found.filled_qty} at {found.filled_avg_price}); not sent, the position has changed")
            if found is not None and found.status.is_open:
                return f"the native {row.order_type} order {row.client_order_id} could not be canceled ({exc})"
            canceled.append(str(row.broker_order_id))
            released.append(row.client_order_id)
    if canceled:
        mark_canceled_in_store(ctx, canceled)
        log.info("canceled %d native stop(s) on %s before %s", len(canceled), request.symbol, request.client_order_id)
        _audit_release(ctx, request, actor, released, rest)
        try:  # the exit goes out whatever happens here: the engine's tick re-places what is missing
            for line in protect_rest(ctx, released, rest, actor, submit):
                log.info("%s (after %s)", line, request.client_order_id)
        except Exception:  # noqa: BLE001 - a failed replacement must not hold back the trader's exit
            log.exception("native stop for the %s %s left not re-placed", rest, request.symbol)
    return None


def _audit_release(ctx: ControlContext, request: OrderRequest, actor: str, released: list[str], rest: Decimal) -> None:
    with ctx.store.write() as s:
        check_fence(s, ctx)
        for coid in released:
            audit.record(s, ctx.clock.now(), actor, "stop.native_cancel", target=request.symbol,
                         details={"client_order_id": coid, "why": f"the exit {request.client_order_id} "
                                  f"({request.side.value} {request.qty}) closes shares it held",
                                  "rest": str(rest)})
