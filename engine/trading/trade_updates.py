"""Alpaca trade_updates applied to the store as they arrive, with a REST catch-up after each reconnect.

Each event (new, fill, partial_fill, canceled, rejected, expired, ...) carries the whole order; its
state is applied with ``apply_broker_order``, which only moves an order forward (status rank, filled
quantity) and never reopens a terminal one. So applying an event twice, late, or after the REST sync
already applied the same state changes nothing: the stream is idempotent by construction.

Events sent while the socket was down are lost (Alpaca does not replay them), so every reconnect
(``connections`` > 1) runs one REST sync (``sync_from_broker``) in a background thread, bounded by a
call budget. The scheduled account sync stays the safety net, and the source of fills (account
activities; see alpaca_stream.py for why fills are not taken from the stream).

Only the active engine writes: ``is_leader`` is asked before each write. The engine also opens the stream
only when it becomes the active one and closes it when it steps down (engine/scheduler.py): a standby holds
no broker connection.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from engine.lease import check_fence
from engine.store.models import OrderRow
from engine.trading.brokers.alpaca_limits import call_budget
from engine.trading.brokers.alpaca_stream import TradeUpdate, build_alpaca_trade_updates
from engine.trading.orders import apply_broker_order
from engine.trading.sync import sync_from_broker

if TYPE_CHECKING:
    from engine.context import EngineContext

log = logging.getLogger(__name__)
CATCH_UP_SECONDS = 20.0


@dataclass
class StreamCounters:
    received: int = 0
    applied: int = 0  # events that changed an order row
    unchanged: int = 0  # repeats, or states the REST sync had already applied
    unknown: int = 0  # orders not in the store (placed elsewhere): the REST sync imports them
    ignored: int = 0  # received while this engine was not the active one
    catch_ups: int = 0
    catch_up_errors: int = 0

    @property
    def handled(self) -> int:
        """Events fully dealt with (received counts an event on arrival, before its store write)."""
        return self.applied + self.unchanged + self.unknown + self.ignored


class TradeUpdatesApplier:
    """The stream's consumer: ``on_update`` and ``on_connect`` are called from the stream's thread."""

    def __init__(self, ctx: EngineContext, is_leader: Callable[[], bool] = lambda: True,
                 catch_up: Callable[[], object] | None = None) -> None:
        self.ctx = ctx
        self.is_leader = is_leader
        self.catch_up = catch_up if catch_up is not None else self._rest_sync
        self.counters = StreamCounters()
        self._lock = threading.Lock()
        self._catch_up_thread: threading.Thread | None = None

    def on_update(self, update: TradeUpdate) -> bool:
        """Apply one event; True when it changed the stored order."""
        with self._lock:
            self.counters.received += 1
            if not self.is_leader():
                self.counters.ignored += 1
                return False
            now = self.ctx.clock.now()
            with self.ctx.store.write() as s:
                check_fence(s, self.ctx)  # fenced: an engine writes only under the lease it holds (engine/lease.py)
                row = s.scalars(select(OrderRow).where(OrderRow.client_order_id == update.order.client_order_id)).first()
                if row is None:
                    self.counters.unknown += 1
                    return False
                changed = apply_broker_order(row, update.order, now)
            if changed:
                self.counters.applied += 1
                log.info("trade update %s applied to %s: %s", update.event, update.order.client_order_id,
                         update.order.status.value, extra={"order_id": update.order.client_order_id})
            else:
                self.counters.unchanged += 1
            return changed

    def on_connect(self, connections: int) -> None:
        """After a reconnect, catch up over REST what the gap may have hidden (in the background)."""
        if connections <= 1 or not self.is_leader():
            return
        if self._catch_up_thread is not None and self._catch_up_thread.is_alive():
            return  # one catch-up at a time
        self._catch_up_thread = threading.Thread(target=self._run_catch_up, name="trade-updates-catch-up", daemon=True)
        self._catch_up_thread.start()

    def wait_catch_up(self, timeout_s: float = 30.0) -> None:
        if self._catch_up_thread is not None:
            self._catch_up_thread.join(timeout_s)

    def _run_catch_up(self) -> None:
        try:
            self.catch_up()
            self.counters.catch_ups += 1
        except Exception:  # noqa: BLE001 - the scheduled sync retries; logged for the operator
            self.counters.catch_up_errors += 1
            log.exception("REST catch-up after the trade stream reconnected failed; the account sync retries")

    def _rest_sync(self) -> None:
        with call_budget(CATCH_UP_SECONDS, max_requests=200, label="trade stream catch-up"):
            sync_from_broker(self.ctx)


def start_trade_updates(ctx: EngineContext, is_leader: Callable[[], bool]) -> tuple[Any, TradeUpdatesApplier] | None:
    """Start Alpaca's trade_updates stream for an Alpaca broker (None for any other broker)."""
    if getattr(ctx.broker, "name", "") != "alpaca" or not getattr(ctx.settings, "alpaca_stream", True):
        return None

    applier = TradeUpdatesApplier(ctx, is_leader)
    stream = build_alpaca_trade_updates(ctx.settings, applier.on_update, applier.on_connect)
    stream.start()
    return stream, applier
