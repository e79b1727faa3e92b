"""The `sync_broker` control step: bring the store up to the broker's truth after a kill switch or a
shutdown, and say what that truth is.

The kill switch may run in the web or the CLI with the engine down, and a graceful shutdown stops
the engine's account job: without this step, orders the broker filled (fully or partly) just before
the stop would stay "new, filled 0" in the store, and the stored positions would be stale until the
next engine start. The step runs sync_from_broker, then checks the store against the broker and
reports how many orders ended partially filled and which positions remain.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from engine.market.market_clock import market_clock_of
from engine.protocols import ControlContext
from engine.store.models import CommandRow, OrderRow, PositionRow
from engine.trading.brokers.base import BrokerError, BrokerOrder, OrderStatus
from engine.trading.control_types import ControlError
from engine.trading.risk_limits import active_limits
from engine.trading.sync import sync_from_broker

log = logging.getLogger(__name__)
LOOKBACK = timedelta(seconds=5)  # the command's start, less a margin for clocks that differ slightly
SUMMARY_PREFIX = "store = broker"
ATTEMPTS = 3


def _command_started(ctx: ControlContext, args: dict[str, Any]) -> datetime:
    """Where the broker's order history is read from: the command's start (wall clock, like every command)
    less a margin, turned into the market time the broker's orders carry (engine/market/market_clock.py)."""
    market = market_clock_of(ctx)
    command_id = args.get("command_id")
    if command_id:
        with ctx.store.read() as s:
            started = s.scalar(select(CommandRow.created_at).where(CommandRow.id == int(command_id)))
        if started is not None:
            return market.at_wall(started - LOOKBACK)
    return market.at_wall(ctx.clock.now() - timedelta(minutes=1))


def _qty(value: Decimal) -> str:
    return format(value.normalize(), "f") if value == value.to_integral_value() else str(value)


def partially_filled(orders: list[BrokerOrder]) -> list[BrokerOrder]:
    """Orders that ended (or still are) partly filled: 0 < filled < qty."""
    found = [o for o in orders if Decimal(0) < o.filled_qty < o.qty
             and o.status in (OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.PARTIALLY_FILLED)]
    return sorted(found, key=lambda o: (o.symbol, o.client_order_id))


def differences(ctx: ControlContext, orders: list[BrokerOrder], positions: dict[str, Decimal]) -> list[str]:
    """Where the store still disagrees with the broker after the sync (empty when they agree)."""
    diffs: list[str] = []
    with ctx.store.read() as s:
        stored_pos = {p.symbol: p.qty for p in s.scalars(select(PositionRow)) if p.qty != 0}
        coids = [o.client_order_id for o in orders]
        rows = {r.client_order_id: r for r in s.scalars(select(OrderRow).where(OrderRow.client_order_id.in_(coids)))
                } if coids else {}
    for symbol in sorted(set(stored_pos) | set(positions)):
        if stored_pos.get(symbol, Decimal(0)) != positions.get(symbol, Decimal(0)):
            diffs.append(f"position {symbol}: store {stored_pos.get(symbol, 0)} vs broker {positions.get(symbol, 0)}")
    for order in orders:
        row = rows.get(order.client_order_id)
        if row is None:
            diffs.append(f"order {order.client_order_id}: not in the store")
        elif row.status != order.status.value or row.filled_qty != order.filled_qty:
            diffs.append(f"order {order.client_order_id}: store {row.status} {row.filled_qty} vs broker "
                         f"{order.status.value} {order.filled_qty}")
    return diffs


def sync_broker(ctx: ControlContext, actor: str, args: dict[str, Any]) -> str:
    """Sync orders, fills, positions and the account from the broker; report partial fills and positions."""
    since = _command_started(ctx, args)
    limits = active_limits(ctx.store)
    fills = updates = 0
    for attempt in range(1, ATTEMPTS + 1):  # a live engine may fill a closing order between sync and check
        try:
            report = sync_from_broker(ctx, limits)
        except BrokerError:
            raise  # the broker does not answer: retrying would only add its timeouts to a shutdown
        except Exception as exc:  # noqa: BLE001 - e.g. a concurrent account sync on PostgreSQL: try again
            if attempt == ATTEMPTS:
                raise
            log.warning("final broker sync attempt %d failed: %s", attempt, exc)
            continue
        fills += report.fills_added
        updates += report.orders_updated + report.pending_resolved
        orders = ctx.broker.list_orders_since(since)
        positions = {p.symbol: p.qty for p in ctx.broker.get_positions() if p.qty != 0}
        diffs = differences(ctx, orders, positions)
        if not diffs:
            break
    partial = partially_filled(orders)
    if diffs:
        raise ControlError(f"the store still differs from {ctx.broker.name} after the sync: {'; '.join(diffs[:5])}"
                           + (f" (and {len(diffs) - 5} more)" if len(diffs) > 5 else "")
                           + "; the engine's next sync or reconciliation will retry")
    shown = ", ".join(f"{o.symbol} {o.side.value} {_qty(o.filled_qty)}/{_qty(o.qty)}" for o in partial[:5])
    parts = [f"{SUMMARY_PREFIX} ({ctx.broker.name}): {fills} fill(s) and {updates} order update(s) synced",
             f"{len(partial)} order(s) partially filled" + (f" ({shown}{', …' if len(partial) > 5 else ''})"
                                                             if partial else "")]
    if positions:
        parts.append("positions remain: " + ", ".join(f"{sym} {_qty(q)}" for sym, q in sorted(positions.items())))
    else:
        parts.append("no positions remain")
    return "; ".join(parts)
