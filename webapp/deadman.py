"""The web side of the dead-man's switch (engine/health/deadman.py) and the engine's liveness on
every page.

`install_deadman(app, settings, ctx)` (called by create_app):
- adds the banner's engine line (`banner-engine`): the engine's liveness, in red when the dead-man's
  switch has tripped (heartbeat or market data stale beyond REGIMEDESK_DEADMAN_SECONDS);
- starts a watcher thread in this web process (each gunicorn worker has its own; a worker forked from a
  preloading master starts its own on its first request). The loop is bounded by a stop event, checks
  every `interval_s`, and acts through engine.health.deadman.act, whose DB guard lets one worker act.

Is the market open? Only the watcher's thread asks the broker (Alpaca: /v2/clock, which can be slow);
banner callbacks, in request threads, read the last answer and never wait on the broker. Without a recent
answer they use the exchange calendar (XNYS with Alpaca), never a blind "open".
"""
from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any

from dash import Dash, Input, Output, html

from components.ids import banner as ids
from engine import notify
from engine.auth.roles import Role
from engine.health import deadman
from engine.health.liveness import LIVE, STOPPED
from engine.market.exchange import MarketCalendar, calendar_for_settings
from engine.trading.commands import process_label
from webapp import queries
from webapp.auth.access import requires
from webapp.context import get_context
from webapp.live_cache import live_query

if TYPE_CHECKING:
    from engine.context import EngineContext

log = logging.getLogger(__name__)
EXTENSION_KEY = "regimedesk_deadman"
MARKET_OPEN_CACHE_S = 60.0  # Alpaca's clock is asked at most once a minute (by the watcher's thread only)
MARKET_OPEN_TRUSTED_S = 3 * MARKET_OPEN_CACHE_S  # older than this (watcher stuck or gone): the calendar answers
MAX_FAILURES_IN_A_ROW = 60
_STARTED: weakref.WeakSet[DeadmanWatcher] = weakref.WeakSet()  # this process's watchers, for stop_all


class DeadmanWatcher:
    """A daemon thread that evaluates the dead-man's switch every `interval_s` and acts once per incident."""

    def __init__(self, ctx: EngineContext, threshold_s: float, action: str, interval_s: float | None = None,
                 label: str | None = None, *, cadence_s: float | None = None,
                 calendar: MarketCalendar | None = None) -> None:
        self.ctx = ctx
        self.threshold_s = threshold_s
        self.action = action
        self.interval_s = interval_s if interval_s is not None else max(0.2, min(1.0, threshold_s / 5))
        self.label = label or f"{process_label()} (web)"
        self.actions: list[str] = []  # what this watcher did (one entry per incident it won)
        self.errors = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0
        settings = getattr(ctx, "settings", None)  # the source's bar + poll period (engine/health/deadman.py)
        self.cadence_s = cadence_s if cadence_s is not None else deadman.market_cadence_s(settings)
        self.calendar = calendar if calendar is not None else getattr(ctx.broker, "calendar", None)
        self._market_open: tuple[bool, float] | None = None  # (answer, monotonic time), swapped whole
        self._lock = threading.Lock()

    def calendar_open(self) -> bool:
        """The exchange calendar's answer; a market without an exchange (simulated, CSV) always runs."""
        calendar = self.calendar
        if calendar is None or calendar.exchange is None:
            return True
        return bool(calendar.is_regular_open(self.ctx.clock.now()))

    def market_open(self) -> bool:
        """For request threads: the watcher's last answer, never a broker call (it may block for seconds)."""
        cached = self._market_open  # one read of an immutable tuple: no lock needed
        if cached is not None and time.monotonic() - cached[1] < MARKET_OPEN_TRUSTED_S:
            return cached[0]
        return self.calendar_open()

    def refresh_market_open(self) -> bool:
        """The watcher's thread: ask the broker at most once per MARKET_OPEN_CACHE_S; the calendar if it fails."""
        cached = self._market_open
        if cached is not None and time.monotonic() - cached[1] < MARKET_OPEN_CACHE_S:
            return cached[0]
        try:
            is_open = bool(self.ctx.broker.is_market_open())
        except Exception:  # noqa: BLE001 - unknown: the exchange calendar decides
            is_open = self.calendar_open()
        self._market_open = (is_open, time.monotonic())
        return is_open

    def tick(self) -> str | None:
        """One evaluation (and the action, when this watcher wins the incident)."""
        now = self.ctx.clock.now()
        view = deadman.read_view(self.ctx.store, now, self.threshold_s, self.refresh_market_open(), self.cadence_s,
                                 deadman.session_open_at(self.calendar, now), self.calendar)
        if view.recovered is not None:  # fresh data after a market incident: told once (the DB guard decides)
            deadman.recover(self.ctx, view, self.label)
        if not view.tripped or view.record is not None:
            return None
        done = deadman.act(self.ctx, view, self.action, self.label)
        if done is not None:
            self.actions.append(done)
        return done

    def _loop(self) -> None:
        failures = 0  # in a row
        while not self._stop.wait(self.interval_s):
            try:
                self.tick()
                failures = 0
            except Exception as exc:  # noqa: BLE001 - a store hiccup must not end the watcher
                self.errors += 1
                failures += 1
                if failures == 1:
                    log.warning("dead-man's switch check failed: %s: %s", type(exc).__name__,
                                str(exc).splitlines()[0][:300] if str(exc) else "")
                if failures >= MAX_FAILURES_IN_A_ROW:  # the store is gone: the next web request restarts us
                    log.error("dead-man's switch stops after %d failed checks in a row; the next request "
                              "restarts it", failures)
                    return

    def start(self) -> DeadmanWatcher:
        """Start (or, in a forked worker, restart) the thread; idempotent per process."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive() and self._pid == os.getpid():
                return self
            if self.threshold_s <= 0:
                return self
            self._stop.clear()
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._loop, name="regimedesk-deadman", daemon=True)
            self._thread.start()
            _STARTED.add(self)
        return self

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self._pid == os.getpid()

    def stop(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None and self._thread.is_alive() and self._pid == os.getpid():
            self._thread.join(timeout=timeout_s)


def stop_all(timeout_s: float = 2.0) -> int:
    """Stop every watcher this process started; returns how many were running. For a process that
    builds many apps over one store (the test suite): a watcher left running would act on the next
    app's incidents with its own clock. A stopped watcher restarts on its app's next request."""
    running = [w for w in list(_STARTED) if w.running]
    for watcher in running:
        watcher.stop(timeout_s)
    return len(running)


def _data_status(status: str) -> dict[str, Any]:
    """The `data-status` attribute browser tests read (a dash in its name: passed as a keyword dict)."""
    return {"data-status": status}


def engine_line(view: deadman.DeadmanView) -> tuple[Any, str]:
    """The banner's engine line: text and Bootstrap classes (red when the switch has tripped)."""
    base = "py-1 px-2 mb-2 small rounded "
    if view.tripped:
        return html.Strong(view.banner_text(), id=ids.ENGINE_TEXT, **_data_status("deadman")), \
            base + "alert alert-danger fw-bold"
    live = view.liveness
    status = live.status
    classes = {LIVE: "text-success border border-success", STOPPED: "alert alert-secondary"}
    text = view.banner_text()
    if status != LIVE and view.state in ("ACTIVE", "REDUCING"):
        text += f" — trading state is {view.state} but no engine is running it"
        return html.Strong(text, id=ids.ENGINE_TEXT, **_data_status(status)), base + "alert alert-danger"
    return (html.Span(text, id=ids.ENGINE_TEXT, **_data_status(status)),
            base + classes.get(status, "alert alert-warning"))


@live_query()
def banner_view(threshold_s: float, market_open: bool, cadence_s: float,
                calendar: MarketCalendar | None = None) -> deadman.DeadmanView:
    """queries.deadman_view with the watcher's cadence and calendar (market data is aged within its sessions:
    engine/health/deadman_market.py), so the banner and the watcher agree on what is stale."""
    now = queries.now()
    return deadman.read_view(get_context().store, now, threshold_s, market_open, cadence_s,
                             deadman.session_open_at(calendar, now), calendar)


def install_deadman(app: Dash, settings: Any, ctx: EngineContext, start: bool = True) -> DeadmanWatcher:
    """Register the banner's engine line and start this web process's watcher (see the module doc)."""
    if settings.notify_targets:  # this web process tells people too (dead-man trips, halts from the web)
        notify.configure(settings.notify_targets)
    threshold = float(settings.deadman_seconds)
    action = str(getattr(settings.deadman_action, "value", settings.deadman_action))
    calendar = calendar_for_settings(settings, None)  # the source's exchange (XNYS with Alpaca), not the workbook's
    watcher = DeadmanWatcher(ctx, threshold, action, cadence_s=deadman.market_cadence_s(settings), calendar=calendar)
    app.server.extensions[EXTENSION_KEY] = watcher

    @app.callback(Output(ids.ENGINE, "children"), Output(ids.ENGINE, "className"),
                  Input(ids.INTERVAL, "n_intervals"))
    @requires(Role.VIEWER)
    def refresh_engine_line(_n: int | None):
        return engine_line(banner_view(threshold, watcher.market_open(), watcher.cadence_s, watcher.calendar))

    @app.server.before_request
    def _watch_in_this_worker() -> None:  # a worker forked after create_app starts its own thread
        if start and not watcher.running:
            watcher.start()

    if start:
        watcher.start()
    return watcher
