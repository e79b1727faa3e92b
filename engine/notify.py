"""Notifications to people (phone, chat, e-mail) through apprise: one URL per target in
REGIMEDESK_NOTIFY_URLS (Slack, Discord, Telegram, ntfy, mailto, plain json:// webhooks...).

Sent on: trading HALTED / REDUCING / STOPPED (every state change goes through engine.trading.state.change;
the message leaves after the transaction commits), a check turning unhealthy, the dead-man's switch, and
a failed kill switch step.

`send()` never blocks its caller: it puts the message on a small bounded queue (a full queue drops the
message and says so in the log) and one worker thread delivers it, target by target, retrying a failed
target with backoff (ATTEMPTS tries). The URLs are secrets (they hold tokens): logs and the UI only
ever show `masked(url)`, and apprise's own log lines pass through a filter that masks them too.
"""
from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import event
from sqlalchemy.orm import Session

from engine.settings import load_settings
from engine.store.models import HealthResult

if TYPE_CHECKING:
    from engine.store.db import Store

log = logging.getLogger(__name__)

QUEUE_SIZE = 100
ATTEMPTS = 4  # per target: the first try and 3 retries
BACKOFF_S = (0.5, 1.0, 2.0)  # wait before retry n
AFTER_COMMIT_KEY = "regimedesk_notify_after_commit"
# loggers that may print a target URL (apprise itself; urllib3 logs request paths at DEBUG)
MASKED_LOGGERS = ("apprise", "urllib3.connectionpool")


def masked(url: str) -> str:
    """`scheme://host/…` with every credential, token and path replaced: safe to log and show."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(invalid URL)"
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/***" if parts.scheme else "***"


class _MaskSecrets(logging.Filter):
    """Replace configured URLs (and their long components: tokens) in log records by their masked form."""

    def __init__(self, urls: Iterable[str]) -> None:
        super().__init__()
        self.secrets: list[tuple[str, str]] = []
        for url in urls:
            self.secrets.append((url, masked(url)))
            parts = urlsplit(url)
            for piece in [parts.username, parts.password, *parts.path.split("/"), parts.query]:
                if piece and len(piece) >= 6:
                    self.secrets.append((piece, "***"))

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        changed = text
        for secret, shown in self.secrets:
            changed = changed.replace(secret, shown)
        if changed != text:
            record.msg, record.args = changed, None
        return True


@dataclass
class Message:
    title: str
    body: str
    level: str = "warning"  # info | success | warning | failure (apprise's NotifyType values)
    tries: dict[str, int] = field(default_factory=dict)


@dataclass
class Delivery:
    target: str  # masked
    ok: bool
    attempts: int
    title: str


class Notifier:
    """A bounded queue and one worker thread delivering to every target, with retry."""

    def __init__(self, urls: Iterable[str], *, queue_size: int = QUEUE_SIZE, attempts: int = ATTEMPTS,
                 backoff_s: tuple[float, ...] = BACKOFF_S,
                 on_delivery: Callable[[Delivery], None] | None = None) -> None:
        self.urls = [u for u in urls if u]
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.on_delivery = on_delivery
        self.dropped = 0
        self.delivered = 0
        self.failed = 0
        self._pending = 0
        self._queue: queue.Queue[Message | None] = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._filter = _MaskSecrets(self.urls)
        for name in MASKED_LOGGERS:
            logging.getLogger(name).addFilter(self._filter)

    @property
    def enabled(self) -> bool:
        return bool(self.urls)

    def targets(self) -> list[str]:
        """The configured targets, masked (what the UI may show)."""
        return [masked(u) for u in self.urls]

    def send(self, title: str, body: str, level: str = "warning") -> bool:
        """Queue a message for every target; never blocks. False when disabled, stopped or the queue is full."""
        if not self.urls or self._stop.is_set():
            return False
        self._ensure_worker()
        with self._lock:
            self._pending += 1
        try:
            self._queue.put_nowait(Message(title[:250], body[:4000], level))
        except queue.Full:
            with self._lock:
                self._pending -= 1
            self.dropped += 1
            log.error("notification queue full (%d waiting): dropped %r", self._queue.qsize(), title)
            return False
        return True

    def _ensure_worker(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="regimedesk-notify", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=0.5)
            except queue.Empty:
                if self._stop.is_set():
                    return
                continue
            if item is None:
                return
            try:
                self._deliver(item)
            except Exception:  # noqa: BLE001 - the worker must survive anything one message does
                log.exception("notification %r could not be delivered", item.title)
            finally:
                with self._lock:
                    self._pending -= 1

    def _deliver(self, message: Message) -> None:
        import apprise

        for url in self.urls:
            ok, attempt = False, 0
            for attempt in range(1, self.attempts + 1):
                if attempt > 1 and self._stop.wait(self.backoff_s[min(attempt - 2, len(self.backoff_s) - 1)]):
                    break  # stopping: no more retries
                target = apprise.Apprise()
                if not target.add(url):
                    log.error("notification target %s is not a valid apprise URL", masked(url))
                    break
                ok = bool(target.notify(body=message.body, title=message.title, notify_type=message.level))
                if ok:
                    break
                log.warning("notification %r to %s failed (attempt %d of %d)", message.title, masked(url), attempt,
                            self.attempts)
            if ok:
                self.delivered += 1
            else:
                self.failed += 1
                log.error("notification %r to %s not delivered after %d attempt(s)", message.title, masked(url),
                          attempt)
            if self.on_delivery is not None:
                self.on_delivery(Delivery(masked(url), ok, attempt, message.title))

    @property
    def pending(self) -> int:
        with self._lock:
            return self._pending

    def flush(self, timeout_s: float) -> bool:
        """Wait (bounded) until every queued message was delivered or given up; True when none is left."""
        deadline = time.monotonic() + timeout_s
        while self.pending and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.pending == 0

    def stop(self, flush_s: float = 3.0) -> None:
        """Deliver what is queued (at most `flush_s`), then end the worker."""
        self.flush(flush_s)
        self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(None)
            self._thread.join(timeout=1.0)
        for name in MASKED_LOGGERS:
            logging.getLogger(name).removeFilter(self._filter)


# -- the process's notifier ----------------------------------------------------------------------
_lock = threading.Lock()
_process: dict[str, Notifier] = {}  # the one Notifier of this process, keyed "default"


def configure(urls: Iterable[str]) -> Notifier:
    """Set this process's notifier (replacing and stopping any earlier one)."""
    notifier = Notifier(urls)
    with _lock:
        old = _process.pop("default", None)
        _process["default"] = notifier
    if old is not None:
        old.stop(flush_s=0.5)
    return notifier


def current() -> Notifier:
    """This process's notifier, built from REGIMEDESK_NOTIFY_URLS on first use (disabled when unset)."""
    with _lock:
        found = _process.get("default")
    if found is not None:
        return found
    try:
        urls = load_settings().notify_targets
    except Exception:  # noqa: BLE001 - a bad environment must not break the caller; nothing is sent
        urls = []
    with _lock:
        return _process.setdefault("default", Notifier(urls))


def notify(title: str, body: str, level: str = "warning") -> bool:
    """Send through this process's notifier; never blocks, never raises."""
    try:
        return current().send(title, body, level)
    except Exception:  # noqa: BLE001
        log.exception("could not queue notification %r", title)
        return False


def shutdown(flush_s: float = 3.0) -> None:
    with _lock:
        found = _process.get("default")
    if found is not None:
        found.stop(flush_s)


def after_commit(session: Session, title: str, body: str, level: str = "warning") -> None:
    """Notify once `session`'s transaction commits (nothing is sent when it rolls back)."""
    session.info.setdefault(AFTER_COMMIT_KEY, []).append((title, body, level))


@event.listens_for(Session, "after_commit")
def _send_after_commit(session: Session) -> None:
    for title, body, level in session.info.pop(AFTER_COMMIT_KEY, []):
        notify(title, body, level)


@event.listens_for(Session, "after_rollback")
def _drop_after_rollback(session: Session) -> None:
    session.info.pop(AFTER_COMMIT_KEY, None)


def state_change(session: Session, frm: Any, to: Any, actor: str, reason: str) -> None:
    """Called by engine.trading.state.change: HALTED, REDUCING and STOPPED are worth a message."""
    value = getattr(to, "value", str(to))
    if value not in ("HALTED", "REDUCING", "STOPPED"):
        return
    level = "failure" if value == "HALTED" else "warning" if value == "REDUCING" else "info"
    after_commit(session, f"RegimeDesk: trading {value}", f"{getattr(frm, 'value', frm)} → {value} by {actor}: {reason}",
                 level)


def unhealthy_checks(store: Store, results: Iterable[Any]) -> int:
    """Called by the engine's health job before it stores `results`: tell people about every check that
    has just turned unhealthy (its previous stored result was not). Returns how many were sent."""
    from sqlalchemy import select


    bad = [r for r in results if getattr(r, "status", "") == "unhealthy"]
    if not bad:
        return 0
    sent = 0
    with store.read() as s:
        for check in bad:
            before = s.scalar(select(HealthResult.status).where(HealthResult.name == check.name[:64])
                              .order_by(HealthResult.ts.desc()).limit(1))
            if before != "unhealthy":
                sent += notify(f"RegimeDesk: {check.name} unhealthy", str(getattr(check, "detail", "")), "failure")
    return sent
