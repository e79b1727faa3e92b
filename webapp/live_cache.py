"""Live store reads (the interval callbacks' queries) cached once for every tab and web worker, cheap on a hit.

flask-caching's memoize costs two Redis round trips and an unpickle per memoized call (a version key,
then the value), and after each expiry every worker and thread that asks recomputes the same query at
once. Under load those were most of a dashboard callback's cost. Here:

- **One generation read per request.** Every value key carries the current generation (a random token in
  Redis); `forget()` (a control action) sets a new one, so every worker's next read misses at once. The
  token is read once per request (kept on `flask.g`), whatever the number of queries the callback makes.
- **A per-process table in front of Redis.** A hit within the period answers from memory: no Redis value
  read, no unpickling. Values are shared objects: callers must not modify what a query returns (frames
  are handed out as shallow copies).
- **One refresh at a time.** When a value's period is over, one thread of one worker recomputes it (a
  Redis lock, and a lock per key in the process); the others keep answering the previous value (at most
  one period plus that one query old), and wait for it only when there is none.

- **No machine's wall clock ages a shared value.** Redis itself expires the shared value after the period (PX);
  a worker that reads it asks Redis how long it has left (PTTL) and keeps it in its own table that long, by its own
  monotonic clock. Web machines whose clocks differ never serve each other's values beyond the period. A second
  key keeps the previous value KEEP_PERIODS periods, answered only while another worker refreshes it.

Without Redis (embedded mode, tests) the per-process table alone does all this, with a local generation.
"""
from __future__ import annotations

import functools
import logging
import pickle
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from flask import Flask, current_app, g, has_app_context, has_request_context

log = logging.getLogger(__name__)

EXTENSION_KEY = "regimedesk_live_cache"
PREFIX = "regimedesk:live:"
GEN_KEY = PREFIX + "generation"
VALUES = PREFIX + "v2:"  # value keys (v2: the bare pickled value; a rolling upgrade never reads the old format)
KEEP_PERIODS = 5  # Redis keeps the previous value this many periods, answered while one worker refreshes it
STALE_SUFFIX = ":stale"  # the key of that previous value (the fresh one expires after one period)
LOCK_MS = 10_000  # a refresh lock outlives any sane query; a crashed holder frees it at the latest then
WAIT_S = 2.0  # with no value at all, how long to wait for another worker's refresh before querying too
LOCAL_MAX = 512  # entries in the per-process table before old generations and expired values are dropped
STRIPES = 64
REDIS_RETRY_S = 5.0  # after a Redis error, the store is read uncached this long before Redis is tried again
REDIS_TIMEOUT_S = 1.0  # connect and socket timeout of the live cache's Redis client (small values, same network)

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Entry:
    fresh_until: float  # this process's time.monotonic(): never compared with another machine's clock
    value: Any

    def fresh(self) -> bool:
        return time.monotonic() < self.fresh_until


class LiveCache:
    """One app's live cache: the per-process table, and Redis when the app has a redis:// cache URL."""

    def __init__(self, redis_client: Any | None, ttl_s: float) -> None:
        self.redis = redis_client
        self.ttl_s = float(ttl_s)
        self.local: dict[tuple[str, str, str], Entry] = {}
        self.local_generation = uuid.uuid4().hex
        self.lock = threading.Lock()
        self.stripes = [threading.RLock() for _ in range(STRIPES)]  # re-entrant: a query may read another
        self.redis_failed_at = -REDIS_RETRY_S

    # --- the generation ------------------------------------------------------------------------
    def generation(self) -> str:
        if self.redis is None:
            return self.local_generation
        if has_request_context():
            gen = g.get("_live_cache_generation")
            if gen is None:
                gen = self._read_generation()
                g._live_cache_generation = gen
            return str(gen)
        return self._read_generation()

    def _read_generation(self) -> str:
        if time.monotonic() - self.redis_failed_at < REDIS_RETRY_S:
            return ""  # Redis failed a moment ago: do not make every request wait for it again
        try:
            raw = self.redis.get(GEN_KEY) if self.redis is not None else None
        except Exception as exc:  # noqa: BLE001 - Redis down: read the store (uncached) rather than fail
            return self._redis_down(exc)
        return raw.decode() if isinstance(raw, bytes) else str(raw or "0")

    def forget(self) -> bool:
        """Drop every cached live read, in every worker (their next read misses); False when Redis could not be
        told, so other workers may answer their cached value until it expires.

        Best effort and bounded (the client's short socket timeouts): a control action that already committed
        must never turn into an error because the cache could not be refreshed (the kill switch with Redis down
        reported "nothing was changed" after the HALT was in the store)."""
        new = uuid.uuid4().hex
        with self.lock:
            self.local.clear()
            self.local_generation = new
        if has_request_context():
            g.pop("_live_cache_generation", None)
        if self.redis is None:
            return True
        try:
            self.redis.set(GEN_KEY, new)
        except Exception as exc:  # noqa: BLE001 - Redis down: this worker's table is dropped; report, never raise
            self.redis_failed_at = time.monotonic()  # this worker reads the store uncached for a while
            log.warning("live cache: could not publish a new generation to Redis (%s: %s); other web workers may "
                        "show cached reads for up to %.0f s", type(exc).__name__, exc, self.ttl_s * KEEP_PERIODS)
            return False
        return True

    def _redis_down(self, exc: Exception) -> str:
        if time.monotonic() - self.redis_failed_at > 60:
            log.warning("live cache: Redis unavailable (%s); reading the store uncached for a while", exc)
        self.redis_failed_at = time.monotonic()
        return ""  # no generation: get() computes without caching

    # --- reads ---------------------------------------------------------------------------------
    def get(self, name: str, args: str, ttl_s: float, compute: Callable[[], Any]) -> Any:
        gen = self.generation()
        if self.redis is not None and not gen:
            return compute()
        key = (gen, name, args)
        entry = self.local.get(key)
        if entry is not None and entry.fresh():
            return entry.value
        stripe = self.stripes[hash((name, args)) % STRIPES]
        if entry is not None:
            if not stripe.acquire(blocking=False):
                return entry.value  # another thread of this worker refreshes it now
            held = True
        else:
            held = stripe.acquire(timeout=WAIT_S)  # not held after the wait: query without the lock
        try:
            entry = self.local.get(key)
            if entry is not None and entry.fresh():
                return entry.value
            entry = self._shared(key, ttl_s, compute, entry) if self.redis is not None else _computed(compute, ttl_s)
            self._keep(key, entry)
            return entry.value
        finally:
            if held:
                stripe.release()

    def _keep(self, key: tuple[str, str, str], entry: Entry) -> None:
        with self.lock:
            if len(self.local) >= LOCAL_MAX:
                now = time.monotonic()
                gen = key[0]
                for k in [k for k, e in self.local.items() if k[0] != gen or now - e.fresh_until > 60 * self.ttl_s]:
                    del self.local[k]
                if len(self.local) >= LOCAL_MAX:
                    self.local.clear()
            self.local[key] = entry

    def _shared(self, key: tuple[str, str, str], ttl_s: float, compute: Callable[[], Any],
                stale: Entry | None) -> Entry:
        """The value from Redis while Redis keeps it fresh, or computed by this worker when it is first to find it
        gone (the others answer the previous value meanwhile, or wait for the new one when there is none)."""
        redis_key = f"{VALUES}{key[0]}:{key[1]}:{key[2]}"
        try:
            found = self._fresh_from_redis(redis_key, ttl_s)
            if found is not None:
                return found
            if self.redis is not None and self.redis.set(redis_key + ":lock", b"1", nx=True, px=LOCK_MS):
                try:
                    entry = _computed(compute, ttl_s)
                    raw = pickle.dumps(entry.value, protocol=pickle.HIGHEST_PROTOCOL)
                    period_ms = max(1, int(ttl_s * 1000))
                    self.redis.set(redis_key, raw, px=period_ms)  # Redis's own clock ends the period
                    self.redis.set(redis_key + STALE_SUFFIX, raw, px=period_ms * KEEP_PERIODS)
                    return entry
                finally:
                    self.redis.delete(redis_key + ":lock")
            if stale is None and self.redis is not None:
                raw = self.redis.get(redis_key + STALE_SUFFIX)
                stale = Entry(time.monotonic(), pickle.loads(raw)) if raw is not None else None  # not fresh
            if stale is not None:
                return stale  # another worker refreshes it now
            deadline = time.monotonic() + WAIT_S
            pause = 0.002
            while time.monotonic() < deadline:
                time.sleep(pause)
                pause = min(pause * 2, 0.02)
                found = self._fresh_from_redis(redis_key, ttl_s)
                if found is not None:
                    return found
        except Exception as exc:  # noqa: BLE001 - Redis down: read the store (uncached) rather than fail
            self._redis_down(exc)
        return _computed(compute, ttl_s)

    def _fresh_from_redis(self, redis_key: str, ttl_s: float) -> Entry | None:
        """The shared value while its Redis TTL holds, kept here for what is left of it (PTTL), else None."""
        if self.redis is None:
            return None
        raw = self.redis.get(redis_key)
        if raw is None:
            return None
        started = time.monotonic()
        left_ms = self.redis.pttl(redis_key)  # -2: expired just now, -1: no expiry (never set so): both not fresh
        left_s = min(float(left_ms) / 1000.0, ttl_s) if left_ms is not None and left_ms > 0 else 0.0
        return Entry(started + left_s, pickle.loads(raw))


def _computed(compute: Callable[[], Any], ttl_s: float) -> Entry:
    started = time.monotonic()
    return Entry(started + ttl_s, compute())


def init_live_cache(server: Flask, redis_url: str, ttl_s: float) -> LiveCache:
    client = None
    if redis_url.startswith(("redis://", "rediss://")):
        import redis  # local import: only deployments with a Redis cache URL need the client

        # short timeouts: every live read and a control action's forget() wait at most this for a hung Redis
        client = redis.Redis.from_url(redis_url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S)
    live = LiveCache(client, ttl_s)
    server.extensions[EXTENSION_KEY] = live
    return live


def _current() -> LiveCache | None:
    return current_app.extensions.get(EXTENSION_KEY) if has_app_context() else None


def _shallow(value: Any) -> Any:
    copy = getattr(value, "copy", None)
    if copy is not None and type(value).__name__ == "DataFrame":
        return copy(deep=False)
    return value


def live_query(timeout: float | None = None) -> Callable[[F], F]:
    """Memoize a store read for `timeout` seconds (default: the app's REGIMEDESK_CACHE_TTL_SECONDS) for
    every tab and worker; `forget()` drops it at once."""

    def decorate(fn: F) -> F:
        name = f"{fn.__module__}.{fn.__qualname__}"

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            live = _current()
            if live is None:
                return fn(*args, **kwargs)
            key = repr((args, sorted(kwargs.items()))) if args or kwargs else ""
            ttl = float(timeout) if timeout is not None else live.ttl_s
            return _shallow(live.get(name, key, ttl, lambda: fn(*args, **kwargs)))

        return cast(F, wrapper)

    return decorate


def forget() -> bool:
    """Drop every cached live read of the current app, in every web worker (after a control action); False when
    the other workers could not be told (Redis unreachable; logged, never raised)."""
    live = _current()
    return live.forget() if live is not None else True
