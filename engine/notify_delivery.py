"""Delivery of notifications to ONE target: its own worker thread and bounded queue, so a dead or slow target
delays only itself (one hanging target used to hold every other target ~20 s per message).

Every try is bounded (`try_timeout_s`: apprise's socket timeouts, and a bounded wait on the sending thread),
and all tries of one message together by `budget_s`. A full queue drops the oldest message of the lowest
level: a failure-level message (HALT, a failed kill switch step) is never dropped for a lower one.
The URL is a secret: only `masked(url)` is ever logged.

A try whose request was sent but whose answer did not come within the read timeout is not retried: the
receiver probably has the message (a slow webhook got every page four times, counted failed). It counts as
*unconfirmed*, with its own log line. Failure-level messages (HALT, a failed kill-switch step) are the
exception: they are sent again, at least once delivered rather than lost behind a proxy that timed out.
Retried: a connect failure, an error status, an abandoned try. Plain JSON webhooks (json://, jsons://) get a
`message_id` in the payload, the same on every try of one message, so a receiver can drop the copies.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, urlsplit

log = logging.getLogger("engine.notify")

LEVELS = ("info", "success", "warning", "failure")  # apprise's NotifyType values, least urgent first
FAILURE = "failure"
QUEUE_SIZE = 100  # per target
OVERFILL = 2  # failure-level messages may fill a queue up to this many times its size before one is dropped
ATTEMPTS = 4  # per target: the first try and 3 retries
BACKOFF_S = (0.5, 1.0, 2.0)  # wait before retry n
TRY_TIMEOUT_S = 4.0  # one try (connect + answer)
BUDGET_S = 10.0  # all tries of one message to one target


# schemes whose host position holds a host (apprise/plugins/*.py templates): every other scheme may keep a
# token there (pbul://{token}, opsgenie://{apikey}, pover://{user}@{token}, tgram://{bot}:{token}/...)
HOST_SCHEMES = frozenset({"json", "jsons", "xml", "xmls", "form", "forms", "ntfy", "ntfys", "gotify", "gotifys",
                          "mailto", "mailtos"})
TOPIC_AS_HOST = frozenset({"ntfy", "ntfys"})  # ntfy://{topic}: with no path, the host position is the topic
DELIVERED, FAILED, UNCONFIRMED, INVALID = "delivered", "failed", "unconfirmed", "invalid"
READ_TIMEOUT_TEXT = "Read timed out"  # urllib3's ReadTimeoutError, which apprise logs as "Socket Exception: ..."


def split_url(url: str) -> SplitResult | None:
    """urlsplit, or None when it raises (an unclosed IPv6 bracket)."""
    try:
        return urlsplit(url)
    except ValueError:
        return None


def shows_host(url: str) -> bool:
    """Whether masked(url) shows the URL's host: only for schemes that keep a host there."""
    return not masked(url).endswith("://***")


def masked(url: str) -> str:
    """`scheme://host:port/***` for schemes that address a host (json, xml, form, ntfy with a topic path,
    gotify, mailto), `scheme://***` for every other: safe to log and show, and never raises (a Telegram
    URL's `<bot id>:<token>` netloc is no port: it broke the health job, every notification and the web)."""
    scheme, sep, _rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or not scheme or not scheme.replace("+", "").replace("-", "").replace(".", "").isalnum():
        return "***"
    parts = split_url(url) if scheme in HOST_SCHEMES else None
    if parts is None:
        return f"{scheme}://***"
    host = parts.hostname or ""
    if not host or (scheme in TOPIC_AS_HOST and not parts.path.strip("/")):
        return f"{scheme}://***"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # not a number
        port = ""
    return f"{scheme}://{f'[{host}]' if ':' in host else host}{port}/***"


def apprise_accepts(url: str) -> bool | None:
    """Whether apprise can set `url` up (a scheme it knows, with the parts that scheme needs); None when apprise
    cannot be asked. Parsing only: nothing is sent and nothing is looked up."""
    try:
        import apprise  # heavy: loaded only where targets are configured

        return bool(apprise.Apprise().add(url))
    except Exception:  # noqa: BLE001 - no verdict; the target is tried as configured
        return None


def invalid_note(url: str) -> str:
    """What is wrong with a URL apprise refuses, for the Health page and the log (never the URL itself)."""
    scheme = url.partition("://")[0].lower()
    hint = ("apprise has no http(s):// target; a plain webhook is json://host/path, jsons://host/path for https"
            if scheme in ("http", "https") else "a mistyped scheme, or a missing or malformed token")
    return f"not a valid apprise URL: {hint}"


def _new_id() -> str:
    return uuid.uuid4().hex


@dataclass(eq=False)  # compared by identity: two equal texts are still two messages
class Message:
    title: str
    body: str
    level: str = "warning"  # info | success | warning | failure
    id: str = field(default_factory=_new_id)  # the same on every try: receivers can drop copies


@dataclass
class Delivery:
    target: str  # masked
    ok: bool
    attempts: int
    title: str
    unconfirmed: bool = False  # sent, but the answer did not come in time (not retried; ok is False)


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
        self.delivered = self.failed = self.dropped = self.unconfirmed = 0
        self.last_outcome: str | None = None  # DELIVERED / UNCONFIRMED / FAILED of the newest message ended
        self.invalid = False  # apprise cannot set the URL up (mark_invalid): nothing can reach this target
        self._queue: deque[Message] = deque()
        self._busy = False
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def mark_invalid(self) -> None:
        """apprise refuses this URL, so no message can reach it: the target counts as failed from the start and
        is named with what is wrong. It was healthy on the Health page until a HALT page had gone nowhere, and
        still after (an invalid URL's outcome was not counted as a failure)."""
        self.invalid = True
        self.shown = f"{masked(self.url)} ({invalid_note(self.url)})"
        self.last_outcome = FAILED

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
        outcome, tries = FAILED, 0
        again = {FAILED, UNCONFIRMED} if rank(message.level) >= rank("failure") else {FAILED}
        while tries < self.attempts and outcome in again:
            if tries:
                wait = self.backoff_s[min(tries - 1, len(self.backoff_s) - 1)]
                if time.monotonic() + wait >= deadline or self._stop.wait(wait):
                    break  # out of budget, or stopping: no more retries
            tries += 1
            outcome = self._try(message, min(self.try_timeout_s, max(deadline - time.monotonic(), 0.1)))
            if outcome == FAILED:
                log.warning("notification %r to %s failed (attempt %d of %d)", message.title, self.shown, tries,
                            self.attempts)
        self.last_outcome = FAILED if outcome == INVALID else outcome  # an invalid URL is a failed target
        if outcome == DELIVERED:
            self.delivered += 1
        elif outcome == UNCONFIRMED:
            self.unconfirmed += 1
            log.warning("notification %r to %s unconfirmed: sent (attempt %d), but no answer within the read "
                        "timeout; not sent again, the receiver probably has it", message.title, self.shown, tries)
        else:
            self.failed += 1
            log.error("notification %r to %s not delivered after %d attempt(s)", message.title, self.shown, tries)
        if self.on_delivery is not None:
            self.on_delivery(Delivery(self.shown, outcome == DELIVERED, tries, message.title,
                                      unconfirmed=outcome == UNCONFIRMED))

    def _try(self, message: Message, timeout_s: float) -> str:
        """One try, over after at most ~`timeout_s`: DELIVERED, FAILED (retry), UNCONFIRMED (the request went out
        and the answer timed out: do not send again) or INVALID (not an apprise URL). A try still running after
        the timeout is abandoned and counts as failed (it may not have been sent)."""
        import apprise  # heavy: loaded only when something is sent
        from apprise.plugins.custom_json import NotifyJSON

        target = apprise.Apprise()
        if not target.add(self.url):
            log.error("notification target %s is %s", masked(self.url), invalid_note(self.url))
            return INVALID
        watch = _TryLog(logging.getLogger("apprise"))
        for plugin in target:
            plugin.socket_connect_timeout = plugin.socket_read_timeout = timeout_s
            plugin.logger = watch  # notes a read timeout; passes every record on to apprise's logger
            if isinstance(plugin, NotifyJSON) and "message_id" not in plugin.payload_extras:
                plugin.payload_extras = {**plugin.payload_extras, "message_id": message.id}
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
            return FAILED
        if outcome and outcome[0]:
            return DELIVERED
        return UNCONFIRMED if watch.read_timed_out else FAILED


class _TryLog(logging.Logger):
    """Stands in for apprise's logger on one try's plugin: apprise turns every request error into False and
    logs it ("Socket Exception: <requests' text>", at debug), so the log is the one place that says whether
    the request went out and then timed out waiting for the answer. Records at the level apprise's logger
    takes go on to it (its filters mask the URL's secrets)."""

    def __init__(self, forward: logging.Logger) -> None:
        super().__init__("apprise.try", logging.DEBUG)
        self.forward = forward
        self.read_timed_out = False

    def handle(self, record: logging.LogRecord) -> None:
        try:
            text: Any = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record says nothing about the try
            text = ""
        if READ_TIMEOUT_TEXT in str(text):
            self.read_timed_out = True
        if self.forward.isEnabledFor(record.levelno):
            self.forward.handle(record)
