"""The steps only a graceful shutdown takes, after trading stopped: disconnect the broker, save what a restart
needs to know, flush the logs (engine/trading/control_steps.py holds the others and the STEPS table)."""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from engine.lease import check_fence
from engine.protocols import ControlContext
from engine.store.models import KeyValue, OrderRow, PositionRow
from engine.trading import state as trading_state
from engine.trading.orders import OPEN_STATUSES


def disconnect_broker(ctx: ControlContext, actor: str, args: dict[str, Any]) -> str:
    for name in ("disconnect", "close"):
        method: Callable[[], object] | None = getattr(ctx.broker, name, None)
        if callable(method):
            method()
            return f"{ctx.broker.name}: {name}() done"
    return f"{ctx.broker.name}: no connection to close"


def save_state(ctx: ControlContext, actor: str, args: dict[str, Any]) -> str:
    """Persist what a restart needs to know: when and by whom trading stopped, and what was left."""
    now = ctx.clock.now()
    try:  # broker truth when the broker still answers (it may be disconnected by now)
        positions = [{"symbol": p.symbol, "qty": str(p.qty)} for p in ctx.broker.get_positions() if p.qty != 0]
        open_orders = len(ctx.broker.list_open_orders())
        source = ctx.broker.name
    except Exception:  # noqa: BLE001 - fall back to the store's last synced view
        with ctx.store.read() as s:
            positions = [{"symbol": p.symbol, "qty": str(p.qty)} for p in s.scalars(select(PositionRow))
                         if p.qty != 0]
            open_orders = len(list(s.scalars(select(OrderRow.id).where(OrderRow.status.in_(OPEN_STATUSES)))))
        source = "store (broker unreachable)"
    with ctx.store.write() as s:
        check_fence(s, ctx)  # fenced: an engine writes only under the lease it holds (engine/lease.py)
        value = {"at": now.isoformat(), "actor": actor, "positions": positions, "open_orders": open_orders,
                 "source": source, "state": trading_state.current(s).state.value}
        row = s.get(KeyValue, "last_shutdown")
        if row is None:
            s.add(KeyValue(key="last_shutdown", value=value, updated_at=now))
        else:
            row.value, row.updated_at = value, now
    return f"saved: {len(positions)} position(s), {open_orders} open order(s) (from {source})"


def flush_logs(ctx: ControlContext, actor: str, args: dict[str, Any]) -> str:
    handlers = logging.getLogger().handlers
    for handler in handlers:
        handler.flush()
    return f"flushed {len(handlers)} log handler(s)"
