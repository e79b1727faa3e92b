"""The load bench's browser-like clients, kept cheap so the generator takes little of the CPU it measures.

Each client thread holds its own keep-alive connection (http.client; a client's banner thread and page
thread are two connections, like a browser's parallel requests), the session cookies are kept by hand,
request bodies are encoded with orjson and responses are decoded only when a store must be echoed.
A request on a reused connection that the server closed before answering is sent again once on a new
one, as browsers do (counted as a retry, not an error).
"""
from __future__ import annotations

import contextlib
import http.client
import json
import re
import threading
import time
from collections import defaultdict
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson

from tests.web_requests import CALLBACK_URL, build_body, position

VIEWER, PASSWORD = "bench-viewer", "bench-viewer-password-1"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
CONFIG = re.compile(r'<script id="_dash-config" type="application/json">(.*?)</script>', re.S)
PERIODS = {"banner-interval": 1.0, "overview-interval": 2.0, "trading-interval": 1.0}
PAGES = {"/": "overview-interval", "/trading": "trading-interval"}
ECHO = ("overview-chart-shown", "overview-book-shown", "trading-fingerprints",
        "trading-execution-prints")  # stores a callback reads back as State
STALE_CONNECTION = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.error_examples: list[str] = []
        self.retries = 0
        self.counting = False

    def add(self, name: str, ms: float, ok: bool, detail: str = "") -> None:
        if not self.counting:
            return
        with self.lock:
            self.samples[name].append(ms)
            if not ok:
                self.errors[name] += 1
                if len(self.error_examples) < 5:
                    self.error_examples.append(f"{name}: {detail[:200]}")


class Http:
    """Keep-alive HTTP/1.1 to one server: a connection per thread, one cookie jar for the tab."""

    def __init__(self, url: str, rec: Recorder) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.rec = rec
        self.local = threading.local()
        self.cookies: dict[str, str] = {}
        self.lock = threading.Lock()
        self.headers: dict[str, str] = {}

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        conn = getattr(self.local, "conn", None)
        if conn is not None:
            return conn, True
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        self.local.conn = conn
        return conn, False

    def request(self, method: str, path: str, body: bytes | None = None,
                content_type: str | None = None) -> tuple[int, bytes]:
        with self.lock:
            headers = dict(self.headers)
            if self.cookies:
                headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if content_type:
            headers["Content-Type"] = content_type
        for attempt in range(2):
            conn, reused = self._connection()
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
            except STALE_CONNECTION:
                conn.close()
                self.local.conn = None
                if not reused or attempt:
                    raise
                with self.rec.lock:
                    self.rec.retries += 1
                continue
            cookies = response.headers.get_all("Set-Cookie") or []
            if cookies:
                self._keep_cookies(cookies)
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
                self.local.conn = None
            return response.status, data
        raise AssertionError("unreachable")

    def _keep_cookies(self, lines: list[str]) -> None:
        with self.lock:
            for line in lines:
                name, _, rest = line.partition("=")
                value = rest.split(";", 1)[0]
                if value and "max-age=0" not in line.lower():
                    self.cookies[name.strip()] = value
                else:
                    self.cookies.pop(name.strip(), None)


def _short(dep: dict[str, Any]) -> str:
    out = dep["output"]
    first = out[2:].split("...")[0] if out.startswith("..") else out
    return first.rsplit(".", 1)[0].split("@")[0]


class Browser:
    """One logged-in tab: its cookies, the page's end_id, the stores the renderer would echo."""

    def __init__(self, url: str, recorder: Recorder) -> None:
        self.url = url
        self.rec = recorder
        self.http = Http(url, recorder)
        self.end_id = ""
        self.stores: dict[str, Any] = {}
        self.deps: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def login(self) -> None:
        status, page = self.http.request("GET", "/login")
        token = CSRF_FIELD.search(page.decode())
        assert status == 200 and token, f"no csrf_token on /login ({status})"
        form = urlencode({"username": VIEWER, "password": PASSWORD, "csrf_token": token.group(1)}).encode()
        status, text = self.http.request("POST", "/login", form, "application/x-www-form-urlencoded")
        assert status == 302, (status, text[:200])
        self.http.headers["X-CSRFToken"] = self.http.cookies["_csrf_token"]

    def load_page(self, path: str) -> None:
        t0 = time.perf_counter()
        status, page = self.http.request("GET", path)
        ok = status == 200
        match = CONFIG.search(page.decode()) if ok else None
        self.end_id = json.loads(match.group(1)).get("end_id", "") if match else ""
        for extra in ("/_dash-layout", "/_dash-dependencies"):
            status, data = self.http.request("GET", extra)
            ok = ok and status == 200
            if extra == "/_dash-dependencies" and status == 200:
                self.deps = orjson.loads(data)
        self.rec.add("page load (html, layout, dependencies)", (time.perf_counter() - t0) * 1000, ok, page[:200].decode())
        with self.lock:
            self.stores = {}
        content = next((d for d in self.deps if "_pages_content.children" in d["output"]), None)
        if content is None:
            raise RuntimeError(f"{path}: no page content callback in /_dash-dependencies ({status} {data[:300]!r})")
        values = {"_pages_location.pathname": path, "_pages_location.search": ""}
        self.call(content, values, name="page content callback")

    def call(self, dep: dict[str, Any], values: dict[str, Any], name: str | None = None, trigger: int = 0,
             query: dict[str, str] | None = None) -> tuple[int, bytes] | None:
        by_position = {}
        for key, value in values.items():
            with contextlib.suppress(KeyError):  # a value for an input this callback does not have
                by_position[position(dep, *key.rsplit(".", 1))] = value
        with self.lock:
            for i, spec in enumerate(dep["inputs"] + dep["state"]):
                if spec["id"] in ECHO:
                    by_position[i] = self.stores.get(spec["id"])
        body = orjson.dumps(build_body(dep, by_position, trigger))
        params = {"endId": self.end_id} if self.end_id else {}
        params.update(query or {})
        path = CALLBACK_URL + ("?" + urlencode(params) if params else "")
        t0 = time.perf_counter()
        try:
            status, data = self.http.request("POST", path, body, "application/json")
        except (OSError, http.client.HTTPException) as exc:
            self.rec.add(name or _short(dep), (time.perf_counter() - t0) * 1000, False, repr(exc))
            return None
        ms = (time.perf_counter() - t0) * 1000
        ok = status in (200, 204)
        self.rec.add(name or _short(dep), ms, ok, f"{status} {data[:200]!r}")
        if status == 200 and any(store in dep["output"] for store in ECHO):
            response = orjson.loads(data).get("response", {})
            with self.lock:
                for store in ECHO:
                    if store in response:
                        self.stores[store] = response[store]["data"]
        return status, data


def interval_deps(deps: list[dict[str, Any]], interval: str) -> list[dict[str, Any]]:
    return [d for d in deps if any(i["id"] == interval for i in d["inputs"])]


def noop_dep(deps: list[dict[str, Any]]) -> dict[str, Any]:
    return next(d for d in deps if d["output"].startswith("banner-kill-modal.is_open")
                and any(i["id"] == "banner-kill-cancel" for i in d["inputs"]))


def call_noop(b: Browser, dep: dict[str, Any], name: str = "no-op callback (baseline)") -> None:
    trigger = next(i for i, s in enumerate(dep["inputs"]) if s["id"] == "banner-kill-cancel")
    b.call(dep, {"banner-kill-cancel.n_clicks": 1, "banner-kill-button.n_clicks": 0}, name=name, trigger=trigger)


def _ticker(b: Browser, interval: str, stop: threading.Event, page_gen: list[int], my_gen: int) -> None:
    period = PERIODS[interval]
    deps = interval_deps(b.deps, interval)
    n = 0
    next_at = time.monotonic()
    while not stop.is_set() and page_gen[0] == my_gen:
        n += 1
        for dep in deps:
            b.call(dep, {f"{interval}.n_intervals": n})
        next_at += period
        delay = next_at - time.monotonic()
        if delay < 0:
            next_at = time.monotonic()  # behind: the next tick fires at once, missed ones are not queued
        elif stop.wait(delay):
            return


def client(url: str, index: int, rec: Recorder, stop: threading.Event, visit_s: float) -> None:
    b = Browser(url, rec)
    b.http.headers["X-Bench-Phase"] = "load"  # profiled workers (bench/wsgi_profile.py) group by it
    try:
        b.login()
    except Exception as exc:  # noqa: BLE001 - counted, the client gives up
        rec.add("login", 0.0, False, repr(exc))
        return
    paths = list(PAGES) if index % 2 == 0 else list(reversed(PAGES))
    banner_gen = [0]
    banner: threading.Thread | None = None
    visit = 0
    while not stop.is_set():
        path = paths[visit % len(paths)]
        visit += 1
        b.load_page(path)
        if banner is None:  # the banner lives in the app shell: it keeps ticking across page changes
            banner = threading.Thread(target=_ticker, args=(b, "banner-interval", stop, banner_gen, 0), daemon=True)
            banner.start()
        gen = [visit]
        page = threading.Thread(target=_ticker, args=(b, PAGES[path], stop, gen, visit), daemon=True)
        page.start()
        stop.wait(visit_s)
        gen[0] = -1
        page.join(timeout=30)
    if banner is not None:
        banner.join(timeout=30)
