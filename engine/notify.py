"""Notifications to people (phone, chat, e-mail) through apprise: one URL per target in
REGIMEDESK_NOTIFY_URLS (Slack, Discord, Telegram, ntfy, mailto, plain json:// webhooks...).

Sent on: trading HALTED / REDUCING / STOPPED (every state change goes through engine.trading.state.change;
the message leaves after the transaction commits), a check turning unhealthy, the dead-man's switch, and
a failed kill switch step.

`send()` never blocks its caller: each target has its own bounded queue and worker thread
(engine/notify_delivery.py), so a dead target delays only itself; a full queue drops its oldest
lowest-level message, never a failure (HALT). One health run pages once, listing every check that turned
unhealthy; a flapping check pages at most once per CHECK_COOLDOWN_S, the next page saying how many were held
back. Over all messages, at most REGIMEDESK_NOTIFY_RATE_LIMIT per REGIMEDESK_NOTIFY_RATE_WINDOW_MINUTES go out
(engine/notify_limits.py); the rest are summarised in one message when the window has room again. Failure
messages other than health pages (HALT, the dead-man's switch, a failed kill switch step) always go at once.
The URLs are secrets (they hold tokens): logs and the UI only
ever show `masked(url)`, and apprise's own log lines pass through a filter that masks them too.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, quote_plus

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from engine.notify_delivery import (
    ATTEMPTS,
    BACKOFF_S,
    BUDGET_S,
    QUEUE_SIZE,
    TRY_TIMEOUT_S,
    Delivery,
    Message,
    TargetWorker,
    apprise_accepts,
    invalid_note,
    masked,
    shows_host,
    split_url,
)
from engine.notify_limits import Cooldown, RateGate, RateLimit, unhealthy_message
from engine.settings import Settings, load_settings
from engine.store.models import HealthResult

if TYPE_CHECKING:
    from engine.store.db import Store

__all__ = ["Cooldown", "Delivery", "Message", "Notifier", "RateLimit", "masked"]

log = logging.getLogger(__name__)

CHECK_COOLDOWN_S = 15 * 60  # at most one "unhealthy" page per check in this window
AFTER_COMMIT_KEY = "regimedesk_notify_after_commit"
# loggers that may print a target URL (apprise itself; urllib3 logs request paths at DEBUG)
MASKED_LOGGERS = ("apprise", "urllib3.connectionpool")


class _MaskSecrets(logging.Filter):
    """Replace configured URLs (and their long components: tokens) in log records by their masked form.

    The host and the whole netloc count as components unless masked() shows the host (json://host...):
    apprise keeps tokens there (pbul://{token}, tgram://{bot}:{token}/...)."""

    def __init__(self, urls: Iterable[str]) -> None:
        super().__init__()
        self.secrets: list[tuple[str, str]] = [(url, masked(url)) for url in urls]
        pieces: set[str] = set()
        for url in urls:
            parts = split_url(url)
            if parts is None:  # not splittable: the pieces between separators are the candidates
                pieces.update(url.replace("@", "/").replace(":", "/").replace("?", "/").split("/"))
                continue
            pieces.update([parts.username or "", parts.password or "", *parts.path.split("/"), parts.query])
            # each query value, raw and re-encoded: apprise logs its rebuilt query, urllib3 the one it sends
            for _key, value in parse_qsl(parts.query, keep_blank_values=False):
                pieces.update([value, quote(value, safe=""), quote_plus(value), quote(value)])
            if not shows_host(url):
                pieces.update([parts.netloc, parts.hostname or "", *parts.netloc.replace("@", ":").split(":")])
        # longest first: a netloc before the token inside it
        self.secrets += [(p, "***") for p in sorted(pieces, key=len, reverse=True) if len(p) >= 6]

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        changed = text
        for secret, shown in self.secrets:
            changed = changed.replace(secret, shown)
        if changed != text:
            record.msg, record.args = changed, None
        return True


class Notifier:
    """One TargetWorker (bounded queue, worker thread, retry) per target, the per-check cooldown and the
    overall rate limit (`rate_max` per `rate_window_s`; None: none, as in tests of delivery alone)."""

    def __init__(self, urls: Iterable[str], *, queue_size: int = QUEUE_SIZE, attempts: int = ATTEMPTS,
                 backoff_s: tuple[float, ...] = BACKOFF_S, try_timeout_s: float = TRY_TIMEOUT_S,
                 budget_s: float = BUDGET_S, check_cooldown_s: float = CHECK_COOLDOWN_S,
                 rate_max: int | None = None, rate_window_s: float = 600.0,
                 clock: Callable[[], float] = time.monotonic,
                 on_delivery: Callable[[Delivery], None] | None = None) -> None:
        self.urls = [u for u in urls if u]
        self.workers = [TargetWorker(url, f"regimedesk-notify-{i}", queue_size=queue_size, attempts=attempts,
                                     backoff_s=backoff_s, try_timeout_s=try_timeout_s, budget_s=budget_s,
                                     on_delivery=on_delivery) for i, url in enumerate(self.urls)]
        self.cooldown = Cooldown(check_cooldown_s, clock)
        self.gate = RateGate(RateLimit(rate_max, rate_window_s, clock), self._queue) if rate_max is not None else None
        self.error: str | None = None  # set when the configured targets could not be set up (nothing is sent)
        self._stopped = False
        self._filter = _MaskSecrets(self.urls)
        for name in MASKED_LOGGERS:
            logging.getLogger(name).addFilter(self._filter)
        self._check_urls()

    def _check_urls(self) -> None:
        """Mark every target apprise refuses (TargetWorker.mark_invalid) and say so in the log at once; when
        none is left, `error` says the notifications are off (the Health page's notifications check)."""
        bad = [w for w in self.workers if apprise_accepts(w.url) is False]
        for worker in bad:
            worker.mark_invalid()
            log.error("notification target %d of %d, %s: nothing will be sent to it; fix REGIMEDESK_NOTIFY_URLS",
                      self.workers.index(worker) + 1, len(self.workers), worker.shown)
        if bad and len(bad) == len(self.workers):
            self.error = "no valid target in REGIMEDESK_NOTIFY_URLS: " + "; ".join(
                f"{masked(w.url)} is {invalid_note(w.url)}" for w in bad)

    @property
    def enabled(self) -> bool:
        return bool(self.urls)

    def targets(self) -> list[str]:
        """The configured targets, masked (what the UI may show)."""
        return [masked(u) for u in self.urls]

    def send(self, title: str, body: str, level: str = "warning", limited: bool | None = None) -> bool:
        """Queue a message for every target; never blocks. False when disabled, stopped, held back by the rate
        limit (then listed in the summary sent once the window has room), or a full queue of some target dropped
        this very message. `limited`: whether the rate limit may hold it (default: all but failure messages)."""
        if not self.urls or self._stopped:
            return False
        if self.gate is not None and not self.gate.admit(title[:250], level, limited):
            return False
        return self._queue(title, body, level)

    def _queue(self, title: str, body: str, level: str) -> bool:
        message = Message(title[:250], body[:4000], level)
        return all([worker.put(message) for worker in self.workers])

    @property
    def dropped(self) -> int:
        return sum(w.dropped for w in self.workers)

    @property
    def delivered(self) -> int:
        return sum(w.delivered for w in self.workers)

    @property
    def failed(self) -> int:
        return sum(w.failed for w in self.workers)

    @property
    def unconfirmed(self) -> int:
        """Messages sent whose answer timed out: not retried (the receiver probably has them)."""
        return sum(w.unconfirmed for w in self.workers)

    @property
    def pending(self) -> int:
        return sum(w.pending for w in self.workers)

    def flush(self, timeout_s: float) -> bool:
        """Wait (bounded) until every queued message was delivered or given up; True when none is left."""
        deadline = time.monotonic() + timeout_s
        while self.pending and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.pending == 0

    def stop(self, flush_s: float = 3.0) -> None:
        """Send the summary of anything held back, deliver what is queued (at most `flush_s`), end the workers."""
        if self.gate is not None and not self._stopped:
            self.gate.close()
        self.flush(flush_s)
        self._stopped = True
        for worker in self.workers:
            worker.stop(join_s=1.0 / max(len(self.workers), 1))
        for name in MASKED_LOGGERS:
            logging.getLogger(name).removeFilter(self._filter)


# -- the process's notifier ----------------------------------------------------------------------
_lock = threading.Lock()
_process: dict[str, Notifier] = {}  # the one Notifier of this process, keyed "default"


def _rate_options() -> dict[str, Any]:
    """The overall rate limit from the settings (REGIMEDESK_NOTIFY_RATE_LIMIT per ..._RATE_WINDOW_MINUTES)."""
    try:
        settings = load_settings()
    except Exception as exc:  # noqa: BLE001 - a bad environment: the defaults, said in the log
        log.error("notification rate limit: the settings do not load (%s); using the defaults", type(exc).__name__)
        settings = Settings.model_construct()
    return {"rate_max": settings.notify_rate_limit, "rate_window_s": settings.notify_rate_window_minutes * 60}


def _build(urls: Iterable[str], **options: Any) -> Notifier:
    """A Notifier for `urls` (with the settings' rate limit unless `options` name one); never raises: when they
    cannot be set up, a disabled one that says why (the type only: an exception's text may quote a URL), so the
    health job, the web and every caller still run."""
    try:
        urls = list(urls)
        if urls and "rate_max" not in options:
            options = {**_rate_options(), **options}
        return Notifier(urls, **options)
    except Exception as exc:  # noqa: BLE001 - a bad target must not take the engine or the web down
        log.error("notifications are OFF in this process: the targets in REGIMEDESK_NOTIFY_URLS could not be "
                  "set up (%s); nothing will be sent", type(exc).__name__)
        notifier = Notifier([])
        notifier.error = f"the notification targets could not be set up ({type(exc).__name__})"
        return notifier


def configure(urls: Iterable[str], **options: Any) -> Notifier:
    """Set this process's notifier (replacing and stopping any earlier one); `options` go to Notifier.
    Never raises (see _build): create_app calls it, and the web runs the dead-man's switch."""
    notifier = _build(urls, **options)
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
        return _process.setdefault("default", _build(urls))


def notify(title: str, body: str, level: str = "warning") -> bool:
    """Send through this process's notifier; never blocks, never raises."""
    try:
        return current().send(title, body, level)
    except Exception as exc:  # noqa: BLE001 - the type only: a traceback's text may quote a URL (a secret)
        log.error("could not queue notification %r: %s", title, type(exc).__name__)
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
    """Called by the engine's health job before it stores `results`: one message listing every check that has
    just turned unhealthy (its previous stored result was not), each at most once per cooldown (a check flapping
    unhealthy/degraded paged every flap; one broker outage paged once per failing job). The message is subject to
    the overall rate limit. Returns how many messages were sent (0 or 1)."""
    bad = [r for r in results if getattr(r, "status", "") == "unhealthy"]
    try:
        notifier = current()
    except Exception as exc:  # noqa: BLE001 - the health job stores its results whatever the notifier does
        log.error("unhealthy checks not notified: no notifier (%s)", type(exc).__name__)
        return 0
    if not bad or not notifier.enabled:
        return 0
    news: list[tuple[str, str, int]] = []
    with store.read() as s:
        for check in bad:
            before = s.scalar(select(HealthResult.status).where(HealthResult.name == check.name[:64])
                              .order_by(HealthResult.ts.desc()).limit(1))
            if before == "unhealthy":
                continue
            held = notifier.cooldown.admit(check.name)
            if held is None:
                log.info("check %s unhealthy again: message held back (cooldown)", check.name)
                continue
            news.append((check.name, str(getattr(check, "detail", "")), held))
    if not news:
        return 0
    title, body = unhealthy_message(news, notifier.cooldown.seconds)
    return int(notifier.send(title, body, "failure", limited=True))
