"""webapp/live_cache.py: live reads shared by web workers (two LiveCache objects on one Redis database stand
for two gunicorn workers), one refresh at a time, one generation read per request, and forget() everywhere."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from tests.conftest import skip_or_fail
from webapp.live_cache import GEN_KEY, LiveCache, forget, init_live_cache, live_query

REDIS_URL = "redis://127.0.0.1:6379/13"  # this test's own Redis database, flushed before and after
# One xdist worker runs this file's tests one after the other: on two workers at once, one test's flush
# emptied the other's keys mid-test (CI saw 4 queries where one was right)
pytestmark = pytest.mark.xdist_group("redis-db-13")


@pytest.fixture
def redis_client() -> Iterator[Any]:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        skip_or_fail(f"Redis is not reachable at {REDIS_URL}: {exc}")
    client.flushdb()
    yield client
    client.flushdb()


class Counter:
    def __init__(self, values: list[Any] | None = None, pause_s: float = 0.0) -> None:
        self.calls = 0
        self.values = values
        self.pause_s = pause_s
        self.lock = threading.Lock()

    def __call__(self) -> Any:
        with self.lock:
            self.calls += 1
            n = self.calls
        time.sleep(self.pause_s)
        return self.values[min(n, len(self.values)) - 1] if self.values else n


def test_in_process_hit_within_the_period_then_one_new_query() -> None:
    live = LiveCache(None, 0.3)
    compute = Counter()
    assert [live.get("q", "", 0.3, compute) for _ in range(5)] == [1] * 5
    assert compute.calls == 1
    time.sleep(0.35)
    assert live.get("q", "", 0.3, compute) == 2
    assert live.get("q", "(1,)", 0.3, compute) == 3  # other arguments: another value
    live.forget()
    assert live.get("q", "", 0.3, compute) == 4


def test_a_value_computed_by_one_worker_is_served_to_the_other(redis_client: Any) -> None:
    a, b = LiveCache(redis_client, 30), LiveCache(redis_client, 30)
    compute_a, compute_b = Counter(["from a"]), Counter(["from b"])
    assert a.get("q", "", 30, compute_a) == "from a"
    assert b.get("q", "", 30, compute_b) == "from a"
    assert (compute_a.calls, compute_b.calls) == (1, 0)


def test_forget_on_one_worker_is_seen_by_the_other_at_its_next_read(redis_client: Any) -> None:
    a, b = LiveCache(redis_client, 30), LiveCache(redis_client, 30)
    assert b.get("state", "", 30, lambda: "ACTIVE") == "ACTIVE"
    assert b.get("state", "", 30, lambda: "HALTED") == "ACTIVE"  # cached for 30 s in B's own table
    a.forget()
    assert b.get("state", "", 30, lambda: "HALTED") == "HALTED"
    assert redis_client.get(GEN_KEY) is not None


def test_one_refresh_at_a_time_across_workers_others_answer_the_previous_value(redis_client: Any) -> None:
    workers = [LiveCache(redis_client, 0.2) for _ in range(4)]
    assert workers[0].get("q", "", 0.2, lambda: "old") == "old"
    for w in workers[1:]:
        assert w.get("q", "", 0.2, lambda: "never") == "old"
    time.sleep(0.25)  # expired everywhere
    answers: list[Any] = []
    lock = threading.Lock()
    others_answered = threading.Event()
    calls = 0

    def refresh() -> str:
        """The one refresh lasts until the 11 other readers have answered (bounded): none of them waited for it."""
        nonlocal calls
        with lock:
            calls += 1
        others_answered.wait(5.0)
        return "new"

    def read(w: LiveCache) -> None:
        value = w.get("q", "", 0.2, refresh)
        with lock:
            answers.append(value)
            if len(answers) == 11 and value == "old":
                others_answered.set()

    threads = [threading.Thread(target=read, args=(w,)) for w in workers for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert calls == 1
    assert others_answered.is_set(), "a reader waited for the refresh instead of answering the previous value"
    assert sorted(answers) == ["new"] + ["old"] * 11


def test_without_any_value_the_others_wait_for_the_one_query(redis_client: Any) -> None:
    workers = [LiveCache(redis_client, 5) for _ in range(3)]
    slow = Counter(["first"], pause_s=0.2)
    answers: list[Any] = []

    def read(w: LiveCache) -> None:
        answers.append(w.get("q", "", 5, slow))

    threads = [threading.Thread(target=read, args=(w,)) for w in workers for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert slow.calls == 1 and answers == ["first"] * 6


def test_redis_down_reads_the_store_uncached() -> None:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    live = LiveCache(client, 30)
    compute = Counter()
    t0 = time.monotonic()
    assert [live.get("q", "", 30, compute) for _ in range(3)] == [1, 2, 3]
    assert time.monotonic() - t0 < 2.0  # Redis is not tried again on every read


def test_one_generation_read_per_request_whatever_the_number_of_queries(redis_client: Any) -> None:
    server = Flask(__name__)
    live = init_live_cache(server, REDIS_URL, 30)
    seen: list[str] = []
    real_get = live.redis.get

    def counting_get(key: str) -> Any:
        seen.append(key)
        return real_get(key)

    live.redis.get = counting_get
    computed = Counter()

    @live_query()
    def first() -> int:
        return int(computed())

    @live_query(timeout=60)
    def second(n: int) -> int:
        return n * 10

    with server.test_request_context():
        assert (first(), second(2), second(2), first()) == (1, 20, 20, 1)
    assert seen.count(GEN_KEY) == 1
    with server.test_request_context():
        assert (first(), second(2)) == (1, 20)  # from this worker's own table: no value read from Redis
    assert seen.count(GEN_KEY) == 2 and len(seen) == 2 + 2  # two value reads in all, in the first request
    with server.test_request_context():
        forget()
        assert first() == 2  # the same request reads the new generation after its own action
    assert computed.calls == 2
