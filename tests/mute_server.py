"""A TCP server on 127.0.0.1 that accepts connections and never sends a byte: a hung webhook, a frozen database.

Bounded: it stops accepting after `lifetime_s` (or on leaving the `with` block) and closes what it accepted."""
from __future__ import annotations

import socket
import threading
import time


class MuteServer:
    """Accepts and stays silent; `accepted_at` records when each connection arrived (monotonic seconds)."""

    def __init__(self, lifetime_s: float) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = int(self.sock.getsockname()[1])
        self.accepted: list[socket.socket] = []
        self.accepted_at: list[float] = []
        self.deadline = time.monotonic() + lifetime_s
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while not self.stopped.is_set() and time.monotonic() < self.deadline:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.accepted_at.append(time.monotonic())
            self.accepted.append(conn)

    def wait_for(self, count: int, timeout_s: float) -> list[float]:
        """The arrival times once `count` connections came, or what came within `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while len(self.accepted_at) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.accepted_at)

    def __enter__(self) -> MuteServer:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stopped.set()
        self.thread.join(timeout=2.0)
        for conn in self.accepted:
            conn.close()
        self.sock.close()
