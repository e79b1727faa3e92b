"""How often people are paged: a per-key cooldown (one check flapping) and an overall rate limit (one outage
tripping many checks, or many incidents at once), so a storm becomes a few messages, never a hundred.

These count and decide (and word the grouped and summary messages); engine/notify.py's queues deliver.
Nothing here blocks or sleeps.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("engine.notify")

HELD_TITLES_SHOWN = 20  # a summary lists at most this many held-back titles, then counts the rest
TIMER_MIN_S = 0.25  # the summary timer never fires more often than this


class Cooldown:
    """At most one message per key per `seconds`; counts what it held back so the next message can say so."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds, self.clock = seconds, clock
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    def admit(self, key: str) -> int | None:
        """None: hold this one back. Otherwise it may go, and this many were held back before it."""
        now = self.clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.seconds:
                self._held[key] = self._held.get(key, 0) + 1
                return None
            self._last[key] = now
            return self._held.pop(key, 0)


@dataclass
class Held:
    """Messages the rate limit held back since the last summary: how many, their titles, the highest level."""

    count: int = 0
    titles: list[str] = field(default_factory=list)
    failure: bool = False


class RateLimit:
    """At most `max_count` messages per sliding `window_s` (on `clock`). A message over the limit is held: it is
    counted and its title kept, for one summary once the window has room again (RateLimit.summary)."""

    def __init__(self, max_count: int, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        if max_count < 1 or window_s <= 0:
            raise ValueError(f"notification rate limit: {max_count} per {window_s} s; needs at least 1 per > 0 s")
        self.max_count, self.window_s, self.clock = max_count, window_s, clock
        self._sent: deque[float] = deque()
        self._held = Held()
        self._lock = threading.Lock()

    def _expire(self, now: float) -> None:
        while self._sent and now - self._sent[0] >= self.window_s:
            self._sent.popleft()

    def note(self) -> None:
        """A message that goes whatever the limit (a HALT): it still uses up room in the window."""
        with self._lock:
            now = self.clock()
            self._expire(now)
            self._sent.append(now)

    def admit(self, title: str, failure: bool = False) -> bool:
        """True: send it now (and it is counted). False: held back, for the next summary."""
        with self._lock:
            now = self.clock()
            self._expire(now)
            if len(self._sent) < self.max_count and not self._held.count:
                self._sent.append(now)
                return True
            self._held.count += 1
            self._held.failure = self._held.failure or failure
            if len(self._held.titles) < HELD_TITLES_SHOWN:
                self._held.titles.append(title)
            return False

    def summary(self, force: bool = False) -> Held | None:
        """What was held back, once the window has room for one message (or at once when `force`: shutting
        down); the summary is counted as a message. None when nothing is held or there is no room yet."""
        with self._lock:
            now = self.clock()
            self._expire(now)
            if not self._held.count or (len(self._sent) >= self.max_count and not force):
                return None
            held, self._held = self._held, Held()
            self._sent.append(now)
            return held

    @property
    def holding(self) -> bool:
        with self._lock:
            return bool(self._held.count)

    def opens_in(self) -> float:
        """Seconds (on `clock`) until the window has room for one more message (0 when it has now)."""
        with self._lock:
            now = self.clock()
            self._expire(now)
            if len(self._sent) < self.max_count:
                return 0.0
            return max(0.0, self._sent[0] + self.window_s - now)


def held_message(held: Held, limit: RateLimit) -> tuple[str, str, str]:
    """(title, body, level) of the summary of what the rate limit held back."""
    lines = [f"- {title}" for title in held.titles]
    if held.count > len(held.titles):
        lines.append(f"- ... and {held.count - len(held.titles)} more")
    body = (f"At most {limit.max_count} notification(s) per {limit.window_s / 60:g} min are sent; "
            f"these were held back:\n" + "\n".join(lines))
    title = f"RegimeDesk: {held.count} notification(s) held back (rate limit)"
    return title, body, "failure" if held.failure else "warning"


class RateGate:
    """The overall rate limit in front of a notifier's queues (`queue(title, body, level)`): admits or holds each
    message, and a daemon timer queues the summary of the held ones once the window has room, even if nothing
    else is sent. Never blocks its caller."""

    def __init__(self, limit: RateLimit, queue: Callable[[str, str, str], object]) -> None:
        self.limit, self.queue = limit, queue
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self._closed = False

    def admit(self, title: str, level: str, limited: bool | None = None) -> bool:
        """True: queue it now. False: held back (logged; summarised later). `limited`: whether the limit may
        hold it; by default every message but a failure one (HALT, dead-man, failed kill switch step)."""
        self.release()
        if not (level != "failure" if limited is None else limited):
            self.limit.note()
            return True
        if self.limit.admit(title, level == "failure"):
            return True
        log.info("notification %r held back: more than %d per %g min", title, self.limit.max_count,
                 self.limit.window_s / 60)
        self._arm()
        return False

    def release(self, force: bool = False) -> None:
        """Queue the summary of what was held back, if the window has room (or at once when `force`)."""
        held = self.limit.summary(force)
        if held is not None:
            self.queue(*held_message(held, self.limit))

    def close(self) -> None:
        """Shutting down: no timer any more, and what is held back is summarised now rather than lost."""
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
        self.release(force=True)

    def _arm(self) -> None:
        with self._lock:
            if self._closed or (self._timer is not None and self._timer.is_alive()):
                return
            due = min(max(self.limit.opens_in(), TIMER_MIN_S), self.limit.window_s)
            self._timer = threading.Timer(due, self._due)
            self._timer.daemon = True
            self._timer.start()

    def _due(self) -> None:
        with self._lock:
            self._timer = None
            if self._closed:
                return
        self.release()
        if self.limit.holding:
            self._arm()


def unhealthy_message(news: list[tuple[str, str, int]], cooldown_s: float) -> tuple[str, str]:
    """(title, body) of one health run's page: every check that just turned unhealthy, as (name, detail, how many
    of its reports the cooldown held back before). One check reads as before; several are listed in one page."""
    note = f"at most one per {cooldown_s / 60:g} min"
    if len(news) == 1:
        name, detail, held = news[0]
        if held:
            detail += (f"\n({held} more unhealthy report(s) of this check held back since the previous message: "
                       f"{note})")
        return f"RegimeDesk: {name} unhealthy", detail
    lines = [f"- {name}: {detail}" + (f" ({held} more report(s) held back since its previous message: {note})"
                                       if held else "") for name, detail, held in news]
    title = f"RegimeDesk: {len(news)} checks unhealthy: {', '.join(name for name, _d, _h in news)}"
    return title, f"{len(news)} checks turned unhealthy in one health run:\n" + "\n".join(lines)
