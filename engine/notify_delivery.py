"""Delivery of notifications to ONE target: its own worker thread and bounded queue, so a dead or slow target
delays only itself (one hanging target used to hold every other target ~20 s per message).

Every try is bounded (`try_timeout_s`: apprise's socket timeouts, and a bounded wait on the sending thread),
and all tries of one message together by `budget_s`. A full queue drops the oldest message of the lowest
level: a failure-level message (HALT, a failed kill switch step) is never dropped for a lower one.
The URL is a secret: only `masked(url)` is ever logged.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

log = logging.getLogger("engine.notify")

LEVELS = ("info", "success", "warning", "failure")  # apprise's NotifyType values, least urgent first
FAILURE = "failure"
QUEUE_SIZE = 100  # per target
OVERFILL = 2  # failure-level messages may fill a queue up to this many times its size before one is dropped
ATTEMPTS = 4  # per target: the first try and 3 retries
BACKOFF_S = (0.5, 1.0, 2.0)  # wait before retry n
TRY_TIMEOUT_S = 4.0  # one try (connect + answer)
BUDGET_S = 10.0  # all tries of one message to one target


def masked(url: str) -> str:
    """`scheme://host/…` with every credential, token and path replaced: safe to log and show."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(invalid URL)"
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/***" if parts.scheme else "***"


@dataclass(eq=False)  # compared by identity: two equal texts are still two messages
class Message:
    title: str
    body: str
    level: str = "warning"  # info | success | warning | failure


@dataclass
class Delivery:
    target: str  # masked
    ok: bool
    attempts: int
    title: str


def rank(level: str) -> int:
    return LEVELS.index(level) if level in LEVELS else LEVELS.index("warning")


def pick_victim(queued: Sequence[Message], new: Message, size: int) -> Message | None:
    """What to drop when `new` meets a full queue: the oldest message of the lowest level (`new` counting as
    the newest). None (keep all) when only failure-level messages are left, until OVERFILL × size."""
    candidates = [*queued, new]
    lowest = min(rank(m.level) for m in candidates)
    if lowest < rank(FAILURE) or len(queued) >= size * OVERFILL:
        return next(m for m in candidates if rank(m.level) == lowest)
    return None


class TargetWorker:
    """One target's bounded queue and worker thread, with retry inside a time budget."""

    def __init__(self, url: str, name: str, *, queue_size: int = QUEUE_SIZE, attempts: int = ATTEMPTS,
                 backoff_s: tuple[float, ...] = BACKOFF_S, try_timeout_s: float = TRY_TIMEOUT_S,
                 budget_s: float = BUDGET_S, on_delivery: Callable[[Delivery], None] | None = None) -> None:
        self.url, self.shown, self.name = url, masked(url), name
        self.queue_size, self.attempts, self.backoff_s = queue_size, attempts, backoff_s
        self.try_timeout_s, self.budget_s, self.on_delivery = try_timeout_s, budget_s, on_delivery
        self.delivered = self.failed = self.dropped = 0
        self._queue: deque[Message] = deque()
        self._busy = False
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def put(self, message: Message) -> bool:
        """Queue `message`; never blocks. False when stopped or when `message` itself was the one dropped."""
        with self._cond:
            if self._stop.is_set():
                return False
            victim = pick_victim(self._queue, message, self.queue_size) if len(self._queue) >= self.queue_size \
                else None
            if victim is not None and victim is not message:
                self._queue = deque(m for m in self._queue if m is not victim)
            if victim is not message:
                self._queue.append(message)
            if victim is not None:
                self.dropped += 1
            waiting = len(self._queue)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
            self._cond.notify()
        if victim is not None:
            log.error("notification queue for %s full (%d waiting): dropped %s %r", self.shown, waiting,
                      victim.level, victim.title)
        return victim is not message

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._queue) + int(self._busy)

    def stop(self, join_s: float = 1.0) -> None:
        """End the worker after its current try (what is still queued is not sent)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread.is_alive():
            thread.join(timeout=join_s)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stop.is_set():
                    self._cond.wait(0.5)
                if self._stop.is_set():
                    return
                message = self._queue.popleft()
                self._busy = True
            try:
                self._deliver(message)
            except Exception as exc:  # noqa: BLE001 - the worker must survive anything one message does
                # the type only: an exception's text may quote the URL (a secret)
                log.error("notification %r to %s could not be delivered: %s", message.title, self.shown,
                          type(exc).__name__)
            finally:
                with self._cond:
                    self._busy = False

    def _deliver(self, message: Message) -> None:
        deadline = time.monotonic() + self.budget_s
        ok, tries = False, 0
        while tries < self.attempts and not ok:
            if tries:
                wait = self.backoff_s[min(tries - 1, len(self.backoff_s) - 1)]
                if time.monotonic() + wait >= deadline or self._stop.wait(wait):
                    break  # out of budget, or stopping: no more retries
            tries += 1
            result = self._try(message, min(self.try_timeout_s, max(deadline - time.monotonic(), 0.1)))
            if result is None:
                break  # not a valid URL: retrying cannot help
            ok = result
            if not ok:
                log.warning("notification %r to %s failed (attempt %d of %d)", message.title, self.shown, tries,
                            self.attempts)
        if ok:
            self.delivered += 1
        else:
            self.failed += 1
            log.error("notification %r to %s not delivered after %d attempt(s)", message.title, self.shown, tries)
        if self.on_delivery is not None:
            self.on_delivery(Delivery(self.shown, ok, tries, message.title))

    def _try(self, message: Message, timeout_s: float) -> bool | None:
        """One try, over after at most ~`timeout_s` (a try still running then is abandoned and counts as failed)."""
        import apprise  # heavy: loaded only when something is sent

        target = apprise.Apprise()
        if not target.add(self.url):
            log.error("notification target %s is not a valid apprise URL", self.shown)
            return None
        for plugin in target:
            plugin.socket_connect_timeout = plugin.socket_read_timeout = timeout_s
        outcome: list[bool] = []

        def send() -> None:
            try:
                outcome.append(bool(target.notify(body=message.body, title=message.title,
                                                  notify_type=message.level)))
            except Exception as exc:  # noqa: BLE001 - a plugin error is a failed try
                log.error("notification %r to %s raised %s", message.title, self.shown, type(exc).__name__)

        sender = threading.Thread(target=send, name=f"{self.name}-try", daemon=True)
        sender.start()
        sender.join(timeout_s + 0.5)  # the socket timeouts end it; the join bounds a slowly trickling answer
        if sender.is_alive():
            log.warning("notification %r to %s took longer than %.1f s: abandoned", message.title, self.shown,
                        timeout_s)
            return False
        return bool(outcome and outcome[0])
