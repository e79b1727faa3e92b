"""A local Alpaca trade-updates websocket (what alpaca-py's TradingStream talks to), in its own thread.

Protocol (JSON text frames): the client sends ``{"action": "authenticate", "data": {key_id,
secret_key}}`` and gets ``{"stream": "authorization", "data": {"status": "authorized"}}`` (or
"unauthorized"); then ``{"action": "listen", ...}`` and gets ``{"stream": "listening"}``; after that
every ``push()`` reaches it as ``{"stream": "trade_updates", "data": {event, order, timestamp, ...}}``.
``drop_clients()`` closes every connection, to test reconnection.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from datetime import UTC, datetime
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve


class FakeTradingStream:
    def __init__(self, key_id: str, secret_key: str) -> None:
        self.key_id = key_id
        self.secret_key = secret_key
        self._loop = asyncio.new_event_loop()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._clients: set[ServerConnection] = set()
        self.connections = 0  # successful authentications so far

    @property
    def url(self) -> str:
        assert self._server is not None, "stream not started"
        host, port = next(iter(self._server.sockets)).getsockname()[:2]
        return f"ws://{host}:{port}/stream"

    def start(self) -> FakeTradingStream:
        ready = threading.Event()

        async def open_server() -> Server:
            return await serve(self._handle, "127.0.0.1", 0, compression=None)

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._server = self._loop.run_until_complete(open_server())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="fake-alpaca-stream", daemon=True)
        self._thread.start()
        ready.wait(5)
        return self

    def stop(self) -> None:
        if self._server is None:
            return

        async def shutdown() -> None:
            assert self._server is not None
            self._server.close()
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)
        self._server = None

    async def _handle(self, ws: ServerConnection) -> None:
        try:
            auth = json.loads(await ws.recv())
            data = auth.get("data") or {}
            ok = data.get("key_id") == self.key_id and data.get("secret_key") == self.secret_key
            await ws.send(json.dumps({"stream": "authorization",
                                      "data": {"action": "authenticate",
                                               "status": "authorized" if ok else "unauthorized"}}))
            if not ok:
                await ws.close()
                return
            listen = json.loads(await ws.recv())
            streams = (listen.get("data") or {}).get("streams", [])
            await ws.send(json.dumps({"stream": "listening", "data": {"streams": streams}}))
            self._clients.add(ws)
            self.connections += 1
            await ws.wait_closed()
        except Exception:  # noqa: BLE001 - a client going away mid-handshake is normal here
            pass
        finally:
            self._clients.discard(ws)

    def client_count(self) -> int:
        return len(self._clients)

    def push(self, event: str, order: dict[str, Any], price: str | None = None, qty: str | None = None) -> None:
        """Send one trade update to every listening client."""
        msg: dict[str, Any] = {"event": event, "order": order,
                               "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z")}
        if price is not None:
            msg.update(price=price, qty=qty, position_qty=qty)
        text = json.dumps({"stream": "trade_updates", "data": msg})

        async def send_all() -> None:
            for ws in list(self._clients):
                with contextlib.suppress(Exception):
                    await ws.send(text)

        asyncio.run_coroutine_threadsafe(send_all(), self._loop).result(5)

    def drop_clients(self) -> None:
        async def close_all() -> None:
            for ws in list(self._clients):
                await ws.close()

        asyncio.run_coroutine_threadsafe(close_all(), self._loop).result(5)
