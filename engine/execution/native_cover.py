"""What a broker-side (native) protective order covers, and getting it out of the way of other exits.

Shared by the engine's own stop check (engine/execution/protect.py: it leaves to a live native order the
exit that order carries, so the two never both sell), the native-order manager
(engine/execution/native_stops.py) and the gateway (engine/trading/gateway.py: Alpaca holds the shares a
resting stop covers, so any other order closing that position first cancels the stop and, once the broker has
answered the exit, places the same stop at once, in the acting user's name, for the shares the exit leaves, or
for the whole position again when the broker refused the exit: a ticket sent while the engine is down must not
leave shares unprotected; stop + exit never exceed the position).
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import audit
from engine.execution.native_plan import Submit, protect_rest
from engine.execution.stops import StopSpec
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


def checked_by(spec: StopSpec, cover: str | None) -> str:
    """Who watches the exits: the broker's resting order (for the one it carries) and/or the engine's tick."""
    if cover is None:
        return "engine"
    rest = any(getattr(spec, f) is not None for f in StopSpec.__slots__ if f != cover)
    what = "trailing stop" if cover == "trail_pct" else "stop order"
    return f"broker ({what})" + (" + engine (the other exits)" if rest else "")


def is_live(order: OrderRow | None) -> bool:
    return order is not None and OrderStatus(order.status).is_open


def covered(order: OrderRow | None) -> str | None:
    """The exit a native order carries while it is live (None: dead or absent; the engine checks everything)."""
    if not is_live(order):
        return None
    assert order is not None
    return COVERS.get(order.order_type)


@dataclass(frozen=True)
class Release:
    """What releasing the native stops before an exit did: `refused` says why the exit must not be sent (None: go
    on); `released` the native orders canceled, `held` the position's shares before the exit, `rest` what the
    exit leaves (0: it closes all, or it does not close this position)."""

    refused: str | None = None
    released: list[str] = field(default_factory=list)
    held: Decimal = Decimal(0)
    rest: Decimal = Decimal(0)


def _held_and_rest(ctx: ControlContext, request: OrderRequest) -> tuple[Decimal, Decimal]:
    """(shares of the position `request` closes, shares it leaves); (0, 0) when it closes nothing.

    The broker's position (the stop must fit what the broker holds); the stored one when it cannot be read."""
    try:
        qty = next((p.qty for p in ctx.broker.get_positions() if p.symbol == request.symbol), Decimal(0))
    except BrokerError as exc:
        log.warning("position of %s not read from the broker (%s); using the stored one", request.symbol, exc)
        with ctx.store.read() as s:
            row = s.get(PositionRow, request.symbol)
            qty = row.qty if row is not None else Decimal(0)
    closes = qty > 0 if request.side is OrderSide.SELL else qty < 0
    return (abs(qty), max(abs(qty) - request.qty, Decimal(0))) if closes else (Decimal(0), Decimal(0))


def release_native(ctx: ControlContext, request: OrderRequest, actor: str) -> Release:
    """Before another order closes a position: cancel the native stops holding its shares (audited in `actor`'s
    name); `reprotect` places them anew once the broker has answered the exit.

    `refused` is set when the order must not be sent (a native stop filled first: the position it would close is
    already gone, and sending would open the opposite one)."""
    if request.order_type.value in NATIVE_TYPES or not supports_native(ctx.broker):
        return Release()
    with ctx.store.read() as s:
        rows = list(s.scalars(select(OrderRow).where(
            OrderRow.symbol == request.symbol, OrderRow.side == request.side.value,
            OrderRow.order_type.in_(NATIVE_TYPES), OrderRow.status.in_(OPEN_STATUSES),
            OrderRow.broker_order_id.is_not(None))))
    if not rows:
        return Release()
    held, rest = _held_and_rest(ctx, request)  # read before the cancels: the exit has not been sent yet
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
                why = f"the native {row.order_type} order {row.client_order_id} could not be canceled ({exc}; {lookup})"
                return _refused(ctx, request, actor, canceled, released, why)
            if found is not None and found.filled_qty > 0:
                why = (f"the native {row.order_type} order {row.client_order_id} filled first "
                       f"({found.filled_qty} at {found.filled_avg_price}); not sent, the position has changed")
                return _refused(ctx, request, actor, canceled, released, why)
            if found is not None and found.status.is_open:
                why = f"the native {row.order_type} order {row.client_order_id} could not be canceled ({exc})"
                return _refused(ctx, request, actor, canceled, released, why)
            canceled.append(str(row.broker_order_id))
            released.append(row.client_order_id)
    _mark_released(ctx, request, actor, canceled, released, rest)
    return Release(None, released, held, rest)


def _refused(ctx: ControlContext, request: OrderRequest, actor: str, canceled: list[str], released: list[str],
             why: str) -> Release:
    """Stopped half-way: the stops already canceled are recorded as such; none is placed again here (held and rest
    0), as the position may have changed under a stop that filled: the engine's tick protects what is there."""
    _mark_released(ctx, request, actor, canceled, released, Decimal(0))
    return Release(why, released)


def _mark_released(ctx: ControlContext, request: OrderRequest, actor: str, canceled: list[str], released: list[str],
                   rest: Decimal) -> None:
    if canceled:
        mark_canceled_in_store(ctx, canceled)
        log.info("canceled %d native stop(s) on %s before %s", len(canceled), request.symbol, request.client_order_id)
        _audit_release(ctx, request, actor, released, rest)


def reprotect(ctx: ControlContext, release: Release, actor: str, submit: Submit, exit_live: bool) -> None:
    """After the broker answered the exit: the released stops placed again by `actor`, for the shares the exit
    leaves (`exit_live`: accepted, or its fate unknown: stop + exit must not exceed the position), or for the whole
    position when the exit was refused or not sent. A failure is logged: the engine's tick re-places what is
    missing, and the exit's answer must reach the trader either way."""
    qty = release.rest if exit_live else release.held
    try:
        for line in protect_rest(ctx, release.released, qty, actor, submit):
            log.info("%s (%s)", line, "after the exit" if exit_live else "the exit was refused")
    except Exception:  # noqa: BLE001 - a failed replacement must not hide the exit's outcome
        log.exception("native stop for %s shares left not re-placed", qty)


def _audit_release(ctx: ControlContext, request: OrderRequest, actor: str, released: list[str], rest: Decimal) -> None:
    with ctx.store.write() as s:
        check_fence(s, ctx)
        for coid in released:
            audit.record(s, ctx.clock.now(), actor, "stop.native_cancel", target=request.symbol,
                         details={"client_order_id": coid, "why": f"the exit {request.client_order_id} "
                                  f"({request.side.value} {request.qty}) closes shares it held",
                                  "rest": str(rest)})
