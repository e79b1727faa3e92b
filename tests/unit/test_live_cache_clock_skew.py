"""Web workers on machines whose wall clocks differ share live reads for one period, never longer
(webapp/live_cache.py: Redis's own TTL ends a shared value's period, not the computing machine's time.time()).

Two LiveCache objects on the real Redis (database 14, flushed before and after) stand for workers on two machines;
worker A's wall clock runs SKEW_S ahead (or behind) while it computes, as a machine with a broken time sync would.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from webapp import live_cache
from webapp.live_cache import LiveCache

REDIS_URL = "redis://127.0.0.1:6379/14"
SKEW_S = 60.0
TTL_S = 1.0
pytestmark = pytest.mark.xdist_group("redis-db-14")


class ShiftedTime:
    """The time module as seen on a machine whose wall clock is `shift` seconds off (monotonic is unaffected)."""

    def __init__(self, shift: float) -> None:
        self.shift = shift

    def time(self) -> float:
        return time.time() + self.shift

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@pytest.fixture
def redis_url() -> Iterator[str]:
    import redis

    from tests.conftest import skip_or_fail

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        skip_or_fail(f"Redis is not reachable at {REDIS_URL}: {exc}")
    client.flushdb()
    yield REDIS_URL
    client.flushdb()


@pytest.mark.parametrize("skew_s", [SKEW_S, -SKEW_S])
def test_a_value_computed_on_a_skewed_machine_is_fresh_one_period_on_the_other(
        redis_url: str, skew_s: float, monkeypatch: pytest.MonkeyPatch) -> None:
    import redis

    worker_a = LiveCache(redis.Redis.from_url(redis_url), TTL_S)
    worker_b = LiveCache(redis.Redis.from_url(redis_url), TTL_S)
    store = {"positions": "qty 100"}
    with monkeypatch.context() as m:
        m.setattr(live_cache, "time", ShiftedTime(skew_s))  # worker A's machine
        assert worker_a.get("positions", "", TTL_S, lambda: store["positions"]) == "qty 100"
    computed = time.monotonic()
    # within the period the other machine shares A's value (no second query)
    assert worker_b.get("positions", "", TTL_S, lambda: "queried again") == "qty 100"
    assert time.monotonic() - computed < TTL_S, "the machine was too slow to check sharing within the period"
    store["positions"] = "qty 0"  # the engine sells: every read one period later must see it
    for wait_s in (1.5, 3.0):
        time.sleep(max(0.0, computed + wait_s - time.monotonic()))
        assert worker_b.get("positions", "", TTL_S, lambda: store["positions"]) == "qty 0", f"stale at +{wait_s} s"
