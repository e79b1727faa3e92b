"""Alpaca's trade_updates websocket (alpaca-py TradingStream): order states as they happen.

engine/trading/trade_updates.py applies each event's order state to the store (idempotently) and
runs a REST catch-up after every reconnect (``on_connect``); the REST sync stays the safety net.
Fills are deliberately NOT recorded from here: the sync reads them from account activities, whose
ids differ from the stream's execution ids, so recording both would count a fill twice.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from alpaca.trading.stream import TradingStream

from engine.trading.brokers.alpaca_http import secret_value
from engine.trading.brokers.alpaca_mapping import to_broker_order
from engine.trading.brokers.base import BrokerError, BrokerOrder

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TradeUpdate:
    event: str  # new, fill, partial_fill, canceled, expired, rejected, replaced, ...
    order: BrokerOrder
    ts: datetime


class AlpacaTradeUpdates:
    """Runs TradingStream in a daemon thread and calls ``on_update`` (from that thread) per trade update."""

    def __init__(self, api_key: str, secret_key: str, on_update: Callable[[TradeUpdate], object], paper: bool = True,
                 url_override: str | None = None, *, allow_live: bool = False,
                 on_connect: Callable[[int], None] | None = None) -> None:
        if not paper and not allow_live:
            raise BrokerError("Alpaca live trade stream refused without the live opt-in (REGIMEDESK_ALPACA_LIVE=1).")
        self._on_update = on_update
        self._on_connect = on_connect
        self._stream = (TradingStream(api_key, secret_key, paper=paper, url_override=url_override) if url_override
                        else TradingStream(api_key, secret_key, paper=paper))
        self._stream.subscribe_trade_updates(self._handle)
        self._thread: threading.Thread | None = None
        self.updates = 0
        self.connections = 0  # successful (re)connections: every one after the first follows a gap
        self.last_update_at: datetime | None = None
        start_ws = getattr(self._stream, "_start_ws", None)
        if start_ws is None:
            raise RuntimeError("alpaca-py changed: TradingStream has no _start_ws; pin alpaca-py==0.44.0 or update "
                               "alpaca_stream.py (the REST catch-up after a reconnect hooks it).")

        async def start_ws_then_report() -> None:  # alpaca-py calls this on the first connect and every reconnect
            await start_ws()
            self.connections += 1
            if self._on_connect is not None:
                try:
                    self._on_connect(self.connections)
                except Exception:  # noqa: BLE001 - a consumer bug must not kill the stream
                    log.exception("trade stream connect handler failed")

        # alpaca-py has no connect hook: its private _start_ws is wrapped (pinned version, checked at start above)
        setattr(self._stream, "_start_ws", start_ws_then_report)  # noqa: B010

    def __repr__(self) -> str:
        return f"AlpacaTradeUpdates(running={self.running}, updates={self.updates})"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    async def _handle(self, update: Any) -> None:
        try:
            event = str(getattr(update.event, "value", update.event))
            ts = update.timestamp.astimezone(UTC) if update.timestamp else datetime.now(UTC)
            self.updates += 1
            self.last_update_at = ts
            self._on_update(TradeUpdate(event=event, order=to_broker_order(update.order), ts=ts))
        except Exception:  # a consumer bug must not kill the stream
            log.exception("trade update handler failed")

    def start(self) -> None:
        if self.running:
            return
        self._thread = threading.Thread(target=self._stream.run, name="alpaca-trade-updates", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> bool:
        """Stop the stream and its thread; True when the thread has ended within timeout_s."""
        if self._thread is None:
            return True
        deadline = time.monotonic() + timeout_s
        loop = getattr(self._stream, "_loop", None)
        while loop is None and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)  # the SDK sets its loop when run() starts
            loop = getattr(self._stream, "_loop", None)
        if loop is not None and loop.is_running():
            try:
                self._stream.stop()
                # closing the socket wakes the SDK's recv() at once instead of after its 5 s poll
                asyncio.run_coroutine_threadsafe(self._stream.close(), loop).result(max(0.1, deadline - time.monotonic()))
            except Exception:  # noqa: BLE001 - the loop may end while we stop it
                log.debug("trade stream already stopping", exc_info=True)
        self._thread.join(max(0.0, deadline - time.monotonic()))
        return not self._thread.is_alive()


def stream_url_for(base_url: str | None) -> str | None:
    """The trade stream URL that goes with a REST URL override (http->ws, https->wss, path /stream)."""
    if not base_url:
        return None
    base = base_url.rstrip("/").removesuffix("/v2")
    scheme, _, rest = base.partition("://")
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}/stream"


def build_alpaca_trade_updates(settings: Any, on_update: Callable[[TradeUpdate], object],
                               on_connect: Callable[[int], None] | None = None) -> AlpacaTradeUpdates:
    """From engine settings: alpaca_key_id, alpaca_secret_key, alpaca_live, and alpaca_stream_url or alpaca_base_url."""
    key, secret = secret_value(getattr(settings, "alpaca_key_id", None)), secret_value(getattr(settings, "alpaca_secret_key", None))
    if not key or not secret:
        raise BrokerError("Alpaca trade stream: APCA_API_KEY_ID / APCA_API_SECRET_KEY are not set.")
    live = bool(getattr(settings, "alpaca_live", False))
    url = getattr(settings, "alpaca_stream_url", None) or stream_url_for(getattr(settings, "alpaca_base_url", None))
    return AlpacaTradeUpdates(key, secret, on_update, paper=not live, url_override=url, allow_live=live,
                              on_connect=on_connect)
