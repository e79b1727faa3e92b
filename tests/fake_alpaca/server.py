"""A local Alpaca-compatible HTTP server with fault injection, for tests and benchmarks.

Usage::

    with FakeAlpacaServer() as srv:          # real HTTP on 127.0.0.1, free port, own thread
        client = TradingClient("k", "s", url_override=srv.url)
        srv.inject("POST", "/v2/orders", "commit_then_504", times=1)
        ...
        assert len(srv.book.orders_for("cid-1")) == 1

Fault kinds (consumed in injection order, ``times`` each, per method + path):
``429`` / ``500`` / ``504`` answer that status without processing; ``delay`` sleeps
``delay_s`` then processes normally; ``drop`` closes the socket without processing or answering;
``commit_then_drop`` processes then closes without answering; ``commit_then_504`` processes then
answers 504 (the lost-response case alpaca-py's own 429/504 retry turns into a duplicate id);
``html_502`` answers a proxy's HTML 502 page without processing; ``commit_then_garbage`` processes
then answers 200 with a body that is not JSON; ``error`` answers ``status`` with the JSON ``body`` (and
``headers``) without processing, e.g. ``inject("POST", "/v2/orders", "error", status=422,
body={"code": 40010001, "message": "asset XYZ is not active"})``; ``429`` takes ``headers`` too
(``{"Retry-After": "2"}``); ``stall`` is ``delay`` under the name the deadline tests use.

``rate_limit_per_minute`` makes the server count requests per key in a fixed 60 s window the way Alpaca
documents it: every answer carries ``X-RateLimit-Limit``/``-Remaining``/``-Reset`` and a request over
the limit gets 429 (with ``Retry-After``) and is not processed.
"""
from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fake_alpaca.book import ApiFailure, FakeBook, FakeOrder
from tests.fake_alpaca.cash import list_activities
from tests.fake_alpaca.stream import FakeTradingStream

FAULT_KINDS = {"429", "500", "504", "delay", "stall", "drop", "commit_then_drop", "commit_then_504", "html_502",
               "commit_then_garbage", "error"}


@dataclass
class Fault:
    method: str
    path: str
    kind: str
    times: int
    delay_s: float = 0.0
    status: int = 0
    body: Any = None
    headers: dict[str, str] | None = None


class _Drop(Exception):
    """Close the connection without writing a response."""


class FakeAlpacaServer:
    """Owns the book, the fault list, the request log and the HTTP thread."""

    def __init__(self, key_id: str = "test-key", secret_key: str = "test-secret",
                 book: FakeBook | None = None, page_size: int = 1000, stream: bool = False,
                 rate_limit_per_minute: int | None = None) -> None:
        self.key_id = key_id
        self.secret_key = secret_key
        self.book = book or FakeBook()
        self.page_size = page_size
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self.hits: Counter[tuple[str, str]] = Counter()
        self.log: deque[tuple[str, str, dict[str, str]]] = deque(maxlen=2000)  # (method, path, query params)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.stream = FakeTradingStream(key_id, secret_key) if stream else None
        self.rate_limit_per_minute = rate_limit_per_minute
        self._window_start = time.time()
        self._window_count = 0
        self.rate_limited = 0  # requests answered 429 by the server-side limit
        self.request_times: deque[float] = deque(maxlen=100_000)  # time.monotonic() of every request
        self._hooks: list[tuple[str, str, int, Any]] = []  # (method, path, nth hit, action): see on_request

    # ---- lifecycle ---------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeAlpacaServer:
        handler = type("BoundHandler", (_Handler,), {"fake": self})
        self._httpd = _QuietServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fake-alpaca",
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        if self.stream is not None:
            self.stream.start()
            self.book.listeners.append(self._push_update)
        return self

    def _push_update(self, event: str, order: FakeOrder, price: Decimal | None, qty: Decimal | None) -> None:
        assert self.stream is not None
        self.stream.push(event, order.to_json(), None if price is None else str(price), None if qty is None else str(qty))

    @property
    def stream_url(self) -> str:
        assert self.stream is not None, "start the server with stream=True"
        return self.stream.url

    def stop(self) -> None:
        if self.stream is not None:
            self.stream.stop()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeAlpacaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- faults and accounting -------------------------------------------------
    def inject(self, method: str, path: str, kind: str, times: int = 1, delay_s: float = 0.0, *, status: int = 0,
               body: Any = None, headers: dict[str, str] | None = None) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; choose one of {sorted(FAULT_KINDS)}")
        if kind == "error" and not status:
            raise ValueError("an 'error' fault needs status=")
        with self._lock:
            self._faults.append(Fault(method.upper(), path, "delay" if kind == "stall" else kind, times, delay_s,
                                      status, body, headers))

    def rate_headers(self) -> tuple[bool, dict[str, str]]:
        """Count one request against the fixed window; (over the limit, the X-RateLimit-* headers)."""
        if self.rate_limit_per_minute is None:
            return False, {}
        with self._lock:
            now = time.time()
            if now - self._window_start >= 60.0:
                self._window_start, self._window_count = now, 0
            self._window_count += 1
            over = self._window_count > self.rate_limit_per_minute
            reset = self._window_start + 60.0
            headers = {"X-RateLimit-Limit": str(self.rate_limit_per_minute),
                       "X-RateLimit-Remaining": str(max(0, self.rate_limit_per_minute - self._window_count)),
                       "X-RateLimit-Reset": str(int(reset))}
            if over:
                self.rate_limited += 1
                headers["Retry-After"] = str(max(1, int(reset - now + 0.999)))
            return over, headers

    def on_request(self, method: str, path: str, nth: int, action: Any) -> None:
        """Run ``action()`` when the ``nth`` request (counted from now) to method + path arrives, before it is
        answered: something happening at the broker at an exact point of a caller's sequence of reads."""
        with self._lock:
            self._hooks.append((method.upper(), path, self.hits[(method.upper(), path)] + nth, action))

    def _run_hooks(self, method: str, path: str) -> None:
        with self._lock:
            hit = self.hits[(method, path)]
            due = [h for h in self._hooks if h[0] == method and h[1] == path and h[2] == hit]
            self._hooks = [h for h in self._hooks if h not in due]
        for _, _, _, action in due:
            action()

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending_faults(self) -> int:
        with self._lock:
            return sum(f.times for f in self._faults)

    def hits_for(self, method: str, path: str) -> int:
        with self._lock:
            return self.hits[(method.upper(), path)]

    def total_hits(self) -> int:
        with self._lock:
            return sum(self.hits.values())

    def params_of(self, method: str, path: str) -> list[dict[str, str]]:
        """Query parameters of the logged requests to one method + path, oldest first."""
        with self._lock:
            return [p for m, pa, p in self.log if m == method.upper() and pa == path]

    def _take_fault(self, method: str, path: str, params: dict[str, str]) -> Fault | None:
        with self._lock:
            self.hits[(method, path)] += 1
            self.log.append((method, path, params))
            self.request_times.append(time.monotonic())
            for f in self._faults:
                if f.method == method and f.path == path and f.times > 0:
                    f.times -= 1
                    if f.times == 0:
                        self._faults.remove(f)
                    return f
            return None

    # ---- routing -------------------------------------------------------------------
    def route(self, method: str, path: str, params: dict[str, str], body: dict[str, Any] | None) -> tuple[int, Any]:
        b = self.book
        self._run_hooks(method, path)
        if method == "GET" and path == "/v2/account":
            return 200, b.account_json()
        if method == "GET" and path == "/v2/clock":
            return 200, b.clock_json()
        if method == "GET" and path == "/v2/account/activities/FILL":
            return 200, b.fill_activities(params)
        if method == "GET" and path == "/v2/account/activities":
            return 200, list_activities(b, params)
        if method == "GET" and path == "/v2/positions":
            return 200, b.positions_json()
        if method == "POST" and path == "/v2/orders":
            return 200, b.submit(body or {}).to_json()
        if method == "GET" and path == "/v2/orders":
            return 200, b.list_orders(params)
        if method == "GET" and path == "/v2/orders:by_client_order_id":
            return 200, b.by_client_id(params.get("client_order_id", "")).to_json()
        if method == "DELETE" and path == "/v2/orders":
            return 207, b.cancel_all()
        if m := re.fullmatch(r"/v2/orders/([0-9a-fA-F-]{36})", path):
            if method == "GET":
                return 200, b.get(m.group(1)).to_json()
            if method == "DELETE":
                b.cancel(m.group(1))
                return 204, None
        if method == "DELETE" and path == "/v2/positions":
            cancel = params.get("cancel_orders", "").lower() == "true"
            return 207, b.close_all(cancel)
        if method == "DELETE" and (m := re.fullmatch(r"/v2/positions/([A-Za-z0-9.]+)", path)):
            return 200, b.close_position(m.group(1).upper()).to_json()
        if method == "GET" and path == "/v2/stocks/bars":
            return 200, b.bars_page(params, self.page_size)
        if method == "GET" and (m := re.fullmatch(r"/v1beta1/options/snapshots/([A-Za-z0-9.]+)", path)):
            return 200, b.snapshots_page(m.group(1).upper(), params, self.page_size)
        raise ApiFailure(404, 40410000, f"no route for {method} {path}")


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that time out leave broken pipes behind; that is expected here."""


class _Handler(BaseHTTPRequestHandler):
    fake: FakeAlpacaServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # headers and body go out in separate writes: without this, Nagle + delayed ACK add ~40 ms
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        split = urlsplit(self.path)
        path, params = split.path, dict(parse_qsl(split.query))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        fault = self.fake._take_fault(method, path, params)
        over, self._rate = self.fake.rate_headers()
        try:
            if over:
                self._send(429, {"code": 42910000, "message": "rate limit exceeded"})
                return
            if fault is not None and fault.kind in ("429", "500", "504"):
                self._send(int(fault.kind), {"code": int(fault.kind) * 100000, "message": f"injected {fault.kind}"},
                           headers=fault.headers)
                return
            if fault is not None and fault.kind == "error":
                self._send(fault.status, fault.body, headers=fault.headers)
                return
            if fault is not None and fault.kind == "html_502":
                self._send(502, None, raw=b"<html><body>502 Bad Gateway</body></html>", content_type="text/html")
                return
            if fault is not None and fault.kind == "drop":
                raise _Drop()
            if fault is not None and fault.kind == "delay":
                time.sleep(fault.delay_s)
            if (self.headers.get("APCA-API-KEY-ID") != self.fake.key_id
                    or self.headers.get("APCA-API-SECRET-KEY") != self.fake.secret_key):
                self._send(401, {"code": 40110000, "message": "access key verification failed"})
                return
            try:
                status, payload = self.fake.route(method, path, params, json.loads(raw) if raw else None)
            except ApiFailure as exc:
                status, payload = exc.status, {"code": exc.code, "message": exc.message}
            if fault is not None and fault.kind == "commit_then_drop":
                raise _Drop()
            if fault is not None and fault.kind == "commit_then_garbage":
                self._send(200, None, raw=b"<html>upstream reset</html>", content_type="text/html")
                return
            if fault is not None and fault.kind == "commit_then_504":
                status, payload = 504, {"code": 50400000, "message": "injected 504 after commit"}
            self._send(status, payload)
        except _Drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

    def _send(self, status: int, payload: Any, raw: bytes | None = None, content_type: str = "application/json",
              headers: dict[str, str] | None = None) -> None:
        data = raw if raw is not None else (b"" if payload is None else json.dumps(payload).encode())
        try:
            self.send_response(status)
            for name, value in {**getattr(self, "_rate", {}), **(headers or {})}.items():
                self.send_header(name, value)
            if data:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self.close_connection = True
