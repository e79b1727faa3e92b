"""A TCP proxy on 127.0.0.1 in front of a real server that can freeze: connections stay open and nothing more
passes either way, as when a database server stops answering after clients connected (SIGSTOP, a hung disk, a
silent network). Bounded: the pumps stop after `lifetime_s` or on leaving the `with` block."""
from __future__ import annotations

import socket
import threading
import time


class FreezeProxy:
    """Forwards 127.0.0.1:`port` to `upstream`; after freeze() no byte is forwarded until thaw()."""

    def __init__(self, upstream: tuple[str, int], lifetime_s: float) -> None:
        self.upstream = upstream
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = int(self.sock.getsockname()[1])
        self.deadline = time.monotonic() + lifetime_s
        self.frozen = threading.Event()
        self.stopped = threading.Event()
        self.sockets: list[socket.socket] = []
        self.threads = [threading.Thread(target=self._accept, daemon=True)]

    def freeze(self) -> None:
        self.frozen.set()

    def thaw(self) -> None:
        self.frozen.clear()

    def _running(self) -> bool:
        return not self.stopped.is_set() and time.monotonic() < self.deadline

    def _accept(self) -> None:
        while self._running():
            try:
                client, _ = self.sock.accept()
            except TimeoutError:
                continue
            if not self._admit(client):
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

    def _admit(self, client: socket.socket) -> bool:
        """Whether a new client connection is forwarded (OutageProxy refuses them while the server is 'gone')."""
        return True

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        while self._running():
            if self.frozen.is_set():  # hold everything: the peer sees an open, silent connection
                time.sleep(0.05)
                continue
            try:
                data = src.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            try:
                dst.sendall(data)
            except OSError:
                return

    def __enter__(self) -> FreezeProxy:
        self.threads[0].start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stopped.set()
        for t in self.threads:
            t.join(timeout=2.0)
        for s in self.sockets:
            s.close()
        self.sock.close()
