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

    def _admit(self, client: socket.socket) -> bool:
        return not self.refusing.is_set()
