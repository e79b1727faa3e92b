"""The login rate limit per client address (REGIMEDESK_LOGIN_RATE_LIMIT): only failed logins count.

Same moving window as flask-limiter's "moving-window" strategy, in the same storage (the limiter's Redis, or this
process's memory), with one difference: a successful login gives its slot back. The slot is still taken
atomically *before* the password is checked, as before: flask-limiter's `deduct_when` only tests the limit before
the view and counts after the response, so a burst of concurrent wrong passwords passed in full; taking the slot
first keeps a burst at exactly the limit. Only the give-back is new, so the limit on failures is exactly as strict
as it was, while a trader who logs in and out all day is never refused by their own logins.

Each slot holds the time it was taken (as a string); giving it back removes that one entry, so the window is then
exactly what it would be had the successful login never been counted (removing some other entry would leave an
older or newer time in the window and end the limit early or late).
"""
from __future__ import annotations

import threading
import time
from typing import Any

from limits import RateLimitItem, parse_many
from limits.storage import RedisStorage, Storage

# Redis: the moving window of limits' acquire_moving_window.lua, pushing the caller's timestamp string so that it
# can be removed again exactly (LREM). Newest first; entries past `limit` are outside the window (trimmed).
_ACQUIRE = b"""
local limit = tonumber(ARGV[2])
local entry = redis.call('lindex', KEYS[1], limit - 1)
if entry and tonumber(entry) >= tonumber(ARGV[1]) - tonumber(ARGV[3]) then
    return 0
end
redis.call('lpush', KEYS[1], ARGV[1])
redis.call('ltrim', KEYS[1], 0, limit - 1)
redis.call('expire', KEYS[1], ARGV[3])
return 1
"""
NAMESPACE = "login-failures"
_MEMORY_KEYS = 100_000  # this process's memory: past this many addresses, expired windows are swept


def parse_limit(limit: str) -> list[RateLimitItem]:
    """The limits of a REGIMEDESK_LOGIN_RATE_LIMIT value ("10 per minute", "10/minute; 100/hour"; "" is none)."""
    try:
        return sorted(parse_many(limit)) if limit.strip() else []
    except ValueError:
        raise ValueError(f"REGIMEDESK_LOGIN_RATE_LIMIT={limit[:100]!r} is not a rate limit; write it as "
                         "'10 per minute' (several: '10 per minute; 100 per hour')") from None


class LoginThrottle:
    """Slots of the per-address windows: `claim` before the password is checked, `give_back` after a success."""

    def __init__(self, limit: str, storage: Storage) -> None:
        self.items = parse_limit(limit)
        self._redis: Any = None  # the acquire script, on the limiter's own Redis connection
        self._connection: Any = None
        self._storage = storage
        if isinstance(storage, RedisStorage):
            self._connection = storage.get_connection()
            self._redis = self._connection.register_script(_ACQUIRE)
        self._memory: dict[str, list[float]] = {}
        self._lock = threading.Lock()
        # the storage did not answer (Redis down): the login is refused with 503, saying so, never a 500
        errors = storage.base_exceptions if self._redis is not None else ()
        self.unavailable: tuple[type[Exception], ...] = errors if isinstance(errors, tuple) else (errors,)

    def _key(self, item: RateLimitItem, address: str) -> str:
        key = item.key_for(NAMESPACE, address)
        return self._storage.prefixed_key(key) if isinstance(self._storage, RedisStorage) else key

    def claim(self, address: str) -> list[tuple[str, str]] | None:
        """Take a slot of each window for `address` (the tightest first); None when one is full (refuse: 429).
        As with flask-limiter, slots taken before the full one stay taken. Returns what give_back returns."""
        taken: list[tuple[str, str]] = []
        for item in self.items:
            key = self._key(item, address)
            stamp = self._acquire(key, item.amount, item.get_expiry())
            if stamp is None:
                return None
            taken.append((key, stamp))
        return taken

    def give_back(self, taken: list[tuple[str, str]]) -> None:
        """A successful login: remove exactly the entries its claim added."""
        for key, stamp in taken:
            if self._redis is not None:
                self._connection.lrem(key, 1, stamp)
            else:
                with self._lock:
                    entries = self._memory.get(key)
                    if entries is not None and float(stamp) in entries:
                        entries.remove(float(stamp))

    def _acquire(self, key: str, limit: int, expiry: int) -> str | None:
        """Add an entry to the window unless `limit` entries are within `expiry` seconds; the entry (its time)."""
        if self._redis is not None:
            stamp = f"{time.time():.6f}"
            return stamp if self._redis(keys=[key], args=[stamp, limit, expiry]) else None
        with self._lock:
            now = float(f"{time.time():.6f}")  # under the lock: the list stays newest first
            if len(self._memory) > _MEMORY_KEYS:
                self._sweep(now)
            entries = self._memory.setdefault(key, [])  # newest first, at most `limit`
            if len(entries) >= limit and entries[limit - 1] >= now - expiry:
                return None
            entries.insert(0, now)
            del entries[limit:]
            return f"{now:.6f}"

    def _sweep(self, now: float) -> None:
        longest = max((item.get_expiry() for item in self.items), default=0)
        for key in [k for k, entries in self._memory.items() if not entries or entries[0] < now - longest]:
            del self._memory[key]
