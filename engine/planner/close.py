"""Close position (the Trading page's Close button; one implementation for every caller): make the position flat.

Working orders that would add to the position (buys for a long, sells for a short) are canceled first, through the
audited cancel_order control action in the acting user's name (engine/trading/control.py, the Trading page's
Cancel); if one cannot be canceled (it filled meanwhile, the broker refuses) nothing is sent, so the close never
turns a long into an unexpected short. Working orders that reduce it stay working and the market order is for the
rest. Protective stops and other contingent orders are left out (they leave with the position)."""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.context import EngineContext
from engine.planner.execute import SendOutcome, rejection_text
from engine.store.models import OrderRow, PositionRow
from engine.trading import control
from engine.trading.brokers.base import OrderSide
from engine.trading.gateway import OrderIntent, submit
from engine.trading.orders import CONTINGENT_TYPES, OPEN_STATUSES
from engine.trading.risk_limits import RiskLimits

CANCEL_HANDOFF_S = 1.0  # as the web's run_control: a live engine may take the cancel, else it runs here
CANCEL_WAIT_S = 8.0  # the market order waits for the cancels: an unfinished cancel sends nothing
CANCELED_ONLY = "canceled_only"  # the status of a close whose cancels were all it had to do (nothing else sent)


def _plain(number: Decimal) -> str:
    return f"{number.normalize():,f}"  # PostgreSQL's scale: 30.00000000 reads 30; 1252 reads 1,252


@dataclass(frozen=True)
class WorkingOrder:
    """An open order a close cancels because it would add to the position."""

    id: int
    side: str
    left: Decimal
    limit: Decimal | None

    def words(self) -> str:
        price = f" limit {_plain(self.limit)}" if self.limit is not None else " at market"
        return f"{self.side} {_plain(self.left)}{price} (order {self.id})"


@dataclass(frozen=True)
class ClosePreview:
    """What Close position would do for `symbol` now: the dialog shows it, the close does it.

    `qty` is the market order, signed (negative sells): the position less the open orders that reduce it, which
    `resting` names (they stay working); `cancels` are the open orders that would add to it (canceled first)."""

    symbol: str
    held: Decimal
    qty: Decimal
    resting: tuple[str, ...]
    cancels: tuple[WorkingOrder, ...] = ()

    @property
    def side(self) -> str:
        return (OrderSide.SELL if self.qty < 0 or (self.qty == 0 and self.held > 0) else OrderSide.BUY).value

    def describe(self) -> str:
        return f"{self.side} {_plain(abs(self.qty))} {self.symbol} at market"

    @property
    def sends(self) -> bool:
        """A close sends an order only when one reduces the position (the open orders may already close it)."""
        return self.held != 0 and self.qty != 0 and (self.qty > 0) != (self.held > 0)

    def canceled_words(self) -> str:
        """"buy 50 limit 101.5 (order 12); buy 5 at market (order 14)", "" when nothing is canceled."""
        return "; ".join(o.words() for o in self.cancels)

    def covered(self) -> str:
        """How the market order and the open orders share the position ("" when no open order is counted)."""
        if not self.resting or not self.sends:
            return ""
        orders = "; ".join(self.resting)
        rest = abs(self.held) - abs(self.qty)
        if rest > 0:
            return (f"the other {_plain(rest)} are left to the open orders, which stay working ({orders}); "
                    f"if they never fill, those {_plain(rest)} stay held")
        return f"the open orders stay working ({orders})"


def close_preview(session: Session, symbol: str) -> ClosePreview:
    """The position and its working orders (protective stops are contingent: left out, as open_order_deltas does)
    -> the orders to cancel (they add to the position) and the market order (what the reducing ones leave)."""
    row = session.get(PositionRow, symbol)
    held = row.qty if row is not None else Decimal(0)
    orders = session.scalars(select(OrderRow).where(
        OrderRow.symbol == symbol, OrderRow.status.in_(OPEN_STATUSES), OrderRow.order_type.not_in(CONTINGENT_TYPES))
        .order_by(OrderRow.id)).all()
    adding = OrderSide.BUY.value if held > 0 else OrderSide.SELL.value
    qty, resting, cancels = held, [], []
    for o in orders:
        left = o.qty - o.filled_qty
        if held != 0 and o.side == adding:
            cancels.append(WorkingOrder(o.id, o.side, left, o.limit_price))
            continue
        qty += left if o.side == OrderSide.BUY.value else -left
        price = f" limit {_plain(o.limit_price)}" if o.limit_price is not None else " at market"
        resting.append(f"{o.side} {_plain(left)}{price}, order {o.id}")
    return ClosePreview(symbol, held, -qty, tuple(resting), tuple(cancels))


def _read(ctx: EngineContext, symbol: str) -> ClosePreview:
    with ctx.store.read() as session:
        return close_preview(session, symbol)


def _cancel(ctx: EngineContext, preview: ClosePreview, actor: str, roles: Collection[str] | None,
            wait_s: float) -> tuple[tuple[str, ...], str | None]:
    """Cancel the orders that would add to the position, one audited cancel_order each, in `actor`'s name:
    (the ones canceled, why the first failure failed or None)."""
    done: list[str] = []
    for order in preview.cancels:
        result = control.perform(ctx, actor, "cancel_order", order_id=order.id, roles=roles,
                                 reason=f"close position {preview.symbol}: this {order.side} would add to it",
                                 handoff_s=CANCEL_HANDOFF_S, wait_s=wait_s)
        if result.status != "done":
            why = result.message or f"the cancel is still {result.status}"
            return tuple(done), f"could not cancel {order.words()}: {why}"
        done.append(order.words())
    return tuple(done), None


def close_position(ctx: EngineContext, symbol: str, actor: str, key: str, origin: str = "manual",
                   limits: RiskLimits | None = None, expect: Decimal | None = None,
                   cancels: Collection[int] | None = None, roles: Collection[str] | None = None,
                   wait_s: float = CANCEL_WAIT_S) -> SendOutcome:
    """Cancel `symbol`'s open orders that would add to the position, then one market order for what its reducing
    open orders leave, through the gateway like a manual order (HALTED refuses it; an exit passes REDUCING).
    Reducing orders count: a second Close pressed before the first one's fill is synced sends nothing.
    `expect` (the signed market quantity) and `cancels` (the order ids to cancel) are what a confirmation dialog
    showed: anything else does nothing (an order filled, was placed or canceled since). A cancel that fails sends
    nothing; `roles` are the acting user's, re-checked by the cancel (None: the caller's guard checked them)."""
    preview = _read(ctx, symbol)
    held, side = preview.held, preview.side
    if held == 0:
        return SendOutcome(symbol, "sell", 0.0, "not_sent", f"no open position in {symbol}")
    if not preview.sends and not preview.cancels:
        return SendOutcome(symbol, side, 0.0, "not_sent",
                           f"the open orders in {symbol} already close the position of {held.normalize():f}; nothing sent "
                           "(cancel them first to close it differently)")
    shown = {o.id for o in preview.cancels}
    if (expect is not None and expect != preview.qty) or (cancels is not None and set(cancels) != shown):
        now = ", ".join(filter(None, [f"cancel {preview.canceled_words()}" if shown else "",
                                      f"send {preview.describe()}" if preview.sends else "nothing to send"]))
        return SendOutcome(symbol, side, float(abs(preview.qty)), "not_sent",
                           f"the open orders in {symbol} changed since the dialog opened (now: {now}); "
                           "nothing sent, press Close again")
    canceled, failed = _cancel(ctx, preview, actor, roles, wait_s)
    first = f"canceled {'; '.join(canceled)}, but " if canceled else ""
    if failed is not None:
        return SendOutcome(symbol, side, 0.0, "not_sent", f"{first}{failed}; nothing sent (the order may have "
                           "filled: the position may have changed), press Close again", canceled)
    after = _read(ctx, symbol)
    if after.held != held or after.qty != preview.qty or after.cancels:
        return SendOutcome(symbol, side, 0.0, "not_sent", f"{first}the position or its open orders changed while "
                           "canceling; nothing sent, press Close again", canceled)
    if not preview.sends:
        return SendOutcome(symbol, side, 0.0, CANCELED_ONLY, f"the open orders in {symbol} already close the position "
                           f"of {held.normalize():f} ({'; '.join(preview.resting)}); nothing else sent", canceled)
    qty = abs(preview.qty)
    intent = OrderIntent(symbol=symbol, side=OrderSide(side), qty=qty, reason="close position", idempotency_key=key)
    result = submit(ctx, intent, actor=actor, origin=origin, limits=limits)
    status = result.status.value if result.accepted else "rejected"
    message = f"sent ({result.client_order_id})" if result.accepted else rejection_text(result)
    return SendOutcome(symbol, side, float(qty), status, message, canceled)
