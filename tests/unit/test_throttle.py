"""The gateway's order throttle: a token bucket on a fake monotonic clock (no real sleeping)."""
from __future__ import annotations

import pytest

from engine.execution.throttle import ThrottleConfig, ThrottleRefused, TokenBucket, bucket_for


class FakeTime:
    def __init__(self) -> None:
        self.t = 1000.0

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


def test_a_burst_is_held_under_its_rate():
    clock = FakeTime()
    bucket = TokenBucket(rate=10, burst=5, monotonic=clock.monotonic, sleep=clock.sleep)
    sent = []
    for _ in range(45):  # 45 orders submitted back to back
        bucket.acquire()
        sent.append(clock.t - 1000.0)
    assert sent[:5] == [0.0] * 5  # the bucket's 5 go at once
    # then one every 1/10 s: order k (k >= 5) leaves at (k - 4) / 10 s
    assert sent[5:] == pytest.approx([(k - 4) / 10 for k in range(5, 45)])
    for start in sent:  # in any 1 s window at most burst + rate orders left
        assert sum(start <= t < start + 1.0 for t in sent) <= 5 + 10
    assert len(sent) / sent[-1] == pytest.approx(45 / 4.0)


def test_tokens_refill_while_idle_but_never_beyond_the_burst():
    clock = FakeTime()
    bucket = TokenBucket(rate=2, burst=3, monotonic=clock.monotonic, sleep=clock.sleep)
    assert [bucket.acquire() for _ in range(3)] == [0, 0, 0]
    clock.t += 60  # a minute idle refills 3, not 120
    assert [bucket.acquire() for _ in range(3)] == [0, 0, 0]
    assert bucket.acquire() == pytest.approx(0.5)


def test_a_wait_beyond_the_allowed_is_refused_and_takes_no_token():
    clock = FakeTime()
    bucket = TokenBucket(rate=1, burst=1, monotonic=clock.monotonic, sleep=clock.sleep)
    bucket.acquire()
    with pytest.raises(ThrottleRefused, match="1 orders/s"):
        bucket.acquire(max_wait_s=0.5)  # the next token is 1 s away
    assert bucket.acquire(max_wait_s=1.0) == pytest.approx(1.0)  # the refused one did not book a token


def test_zero_rate_is_no_throttle_and_bad_settings_are_refused():
    assert bucket_for(object(), ThrottleConfig(0.0, 5, 1.0)) is None
    with pytest.raises(ValueError, match="rate > 0"):
        TokenBucket(rate=0, burst=1)


def test_the_default_is_on_for_alpaca_and_off_for_the_paper_broker():
    from engine.settings import load_settings

    paper = ThrottleConfig.from_settings(load_settings(broker="paper"))
    alpaca = ThrottleConfig.from_settings(load_settings(broker="alpaca", market_source="simulated",
                                                        alpaca_key_id="k", alpaca_secret_key="s"))
    explicit = ThrottleConfig.from_settings(load_settings(broker="paper", order_rate_per_second=7, order_burst=3))
    assert paper.rate == 0 and alpaca.rate == 5.0 and (explicit.rate, explicit.burst) == (7.0, 3)
