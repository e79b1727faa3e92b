"""A TCP proxy on 127.0.0.1 in front of a real PostgreSQL that can play a database outage without touching the
shared server: freeze() (the server hangs, connections stay open and silent; FreezeProxy), refuse() (the server is
gone: every open connection is cut and new ones are closed at once) and restore(). Bounded by `lifetime_s`."""
from __future__ import annotations

import contextlib
import socket
import threading

from tests.freeze_proxy import FreezeProxy


class OutageProxy(FreezeProxy):
    """FreezeProxy plus a refusing mode."""

    def __init__(self, upstream: tuple[str, int], lifetime_s: float) -> None:
        super().__init__(upstream, lifetime_s)
        self.refusing = threading.Event()
        self.threads[0] = threading.Thread(target=self._accept_or_refuse, daemon=True)

    def refuse(self) -> None:
        self.refusing.set()
        for s in list(self.sockets):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        self.sockets.clear()

    def restore(self) -> None:
        self.refusing.clear()
        self.thaw()

    def _accept_or_refuse(self) -> None:
        while self._running():
            try:
                client, _ = self.sock.accept()
            except TimeoutError:
                continue
            if self.refusing.is_set():
                client.close()
                continue
            server = socket.create_connection(self.upstream, timeout=5)
            for s in (client, server):
                s.settimeout(0.1)
                self.sockets.append(s)
            for src, dst in ((client, server), (server, client)):
                t = threading.Thread(target=self._pump, args=(src, dst), daemon=True)
                self.threads.append(t)
                t.start()
